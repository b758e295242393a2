/*
 * accept_addr.c — accept and accept4 on SAN listeners, with every way a program
 * passes (or does not pass) room for the peer's address: none, a buffer on the
 * stack large enough or too small, one on the heap. The library takes the peer's
 * address from what the kernel writes back where it can; whatever it does, the
 * program must see exactly what libc gives it, and the endpoint must have the
 * socket's true addresses and be paired with its connector.
 *
 * For each connection it prints
 *   conn CASE client=FD accepted=FD local=ADDR peer=ADDR
 * (the accepted socket's addresses as the kernel gives them, in the form the
 * tool prints), then "ready", and holds every socket until standard input ends.
 * A listener whose address cannot be bound here (no IPv6) is left out.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void fail(const char *what)
{
    fprintf(stderr, "accept_addr: %s: %s\n", what, strerror(errno));
    exit(1);
}

/* ADDR as the tool prints a Rust SocketAddr (an IPv4-mapped address as IPv4). */
static void format(const struct sockaddr_storage *ss, char *out, size_t n)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        snprintf(out, n, "%s:%u", ip, ntohs(a->sin_port));
    } else {
        const struct sockaddr_in6 *a = (const void *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
            inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], ip, sizeof ip);
            snprintf(out, n, "%s:%u", ip, ntohs(a->sin6_port));
        } else {
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            snprintf(out, n, "[%s]:%u", ip, ntohs(a->sin6_port));
        }
    }
}

static int listener(int family, const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (family == AF_INET) {
        struct sockaddr_in *a = (void *)&ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, ip, &a->sin_addr);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (void *)&ss;
        a->sin6_family = AF_INET6;
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        len = sizeof *a;
    }
    int l = socket(family, SOCK_STREAM, 0);
    if (l < 0)
        fail("socket");
    if (bind(l, (void *)&ss, len) != 0) {
        close(l);
        return -1;
    }
    if (listen(l, 16) != 0)
        fail("listen");
    return l;
}

/* A client connected to listener `l`, through `via` (its loopback address). */
static int client_of(int l, const char *via)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(l, (void *)&ss, &len) != 0)
        fail("getsockname");
    in_port_t port = ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port;
    memset(&ss, 0, sizeof ss);
    int family = strchr(via, ':') ? AF_INET6 : AF_INET;
    if (family == AF_INET) {
        struct sockaddr_in *a = (void *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = port;
        inet_pton(AF_INET, via, &a->sin_addr);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (void *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = port;
        inet_pton(AF_INET6, via, &a->sin6_addr);
        len = sizeof *a;
    }
    int c = socket(family, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (void *)&ss, len) != 0)
        fail("connect");
    return c;
}

enum style { NONE, NONE4, STACK, SHORT, HEAP, STYLES };
static const char *const style_name[STYLES] = {"none", "none-accept4", "stack", "short", "heap"};

/* Accepts on `l` in `style`, and checks that the program got what libc gives. */
static int accept_as(int l, enum style style)
{
    struct sockaddr_storage stack, want;
    socklen_t len = 0, want_len = sizeof want;
    struct sockaddr_storage *heap = malloc(sizeof *heap);
    int a;
    memset(&stack, 0xa5, sizeof stack);
    switch (style) {
    case NONE:
        a = accept(l, NULL, NULL);
        break;
    case NONE4:
        a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        break;
    case STACK:
        len = sizeof stack;
        a = accept(l, (void *)&stack, &len);
        break;
    case SHORT:
        len = 4;
        a = accept4(l, (void *)&stack, &len, 0);
        break;
    default:
        len = sizeof *heap;
        a = accept(l, (void *)heap, &len);
        memcpy(&stack, heap, sizeof stack);
        break;
    }
    free(heap);
    if (a < 0)
        fail("accept");
    if (getpeername(a, (void *)&want, &want_len) != 0)
        fail("getpeername");
    if (style != NONE && style != NONE4) {
        socklen_t shown = len < want_len ? len : want_len;
        if (len != want_len || memcmp(&stack, &want, style == SHORT ? 4 : shown) != 0) {
            fprintf(stderr, "accept_addr: %s: the program got length %u, want %u\n",
                    style_name[style], len, want_len);
            exit(1);
        }
        /* Nothing past the room it gave was written. */
        if (style == SHORT && ((unsigned char *)&stack)[4] != 0xa5) {
            fprintf(stderr, "accept_addr: short: written past the room given\n");
            exit(1);
        }
    }
    return a;
}

int main(void)
{
    static const struct {
        int family;
        const char *bind, *via;
    } listeners[] = {
        {AF_INET, "127.0.0.1", "127.0.0.1"},
        {AF_INET, "0.0.0.0", "127.0.0.1"},
        {AF_INET6, "::", "127.0.0.1"},
        {AF_INET6, "::1", "::1"},
    };
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (size_t i = 0; i < sizeof listeners / sizeof listeners[0]; i++) {
        int l = listener(listeners[i].family, listeners[i].bind);
        if (l < 0)
            continue;
        for (int s = 0; s < STYLES; s++) {
            int c = client_of(l, listeners[i].via);
            int a = accept_as(l, s);
            struct sockaddr_storage local, peer;
            socklen_t n = sizeof local, m = sizeof peer;
            if (getsockname(a, (void *)&local, &n) != 0 || getpeername(a, (void *)&peer, &m) != 0)
                fail("the accepted socket's addresses");
            char lo[80], pe[80];
            format(&local, lo, sizeof lo);
            format(&peer, pe, sizeof pe);
            printf("conn %s/%s client=%d accepted=%d local=%s peer=%s\n", listeners[i].bind,
                   style_name[s], c, a, lo, pe);
        }
    }
    printf("ready\n");
    char buf[64];
    while (read(0, buf, sizeof buf) > 0)
        ;
    return 0;
}
