/*
 * memo.c — one program of socket-option calls, run twice by tests/memo.rs: once
 * with every call on the main thread (`same`: a call that repeats the thread's
 * last one is answered from its memo, src/shim/recent.rs) and once with every
 * call on a thread of its own (`fresh`: a new thread has no memo). The test
 * sends one command per line on standard input and reads one reply line per
 * command; between commands it injects faults with the `wsd` tool.
 *
 *   set S LEVEL OPT LEN VALUE P   setsockopt on socket S, the value at P
 *   get S LEVEL OPT LEN P Q       getsockopt, optval at P, optlen at Q (holding LEN)
 *   dup S T                       dup2(socket S, socket T)
 *   renew S                       a new connection's client end takes S's number
 *   port S                        the client port of S's connection (a fault target)
 *   quit                          prints `hits N`: calls the main thread's memo answered
 *
 * P and Q: s on the calling thread's stack, h on the heap, r a read-only page,
 * n NULL, u an unmapped page. Replies: `rc errno` for set, `rc errno value len`
 * for get (what the buffers hold afterwards; errno is 4242 before each call),
 * `ok` or a port for the others.
 * Sockets 0..5 are the client and server ends of three loopback connections.
 */
#include "harness.h"

#include <pthread.h>

#define SOCKETS 6

static int fds[SOCKETS];
static int listener;
static struct sockaddr_in listener_addr;
static int *heap;
static char *readonly;
static void *unmapped;

struct call {
    char verb[8];
    int s, level, opt, len, value;
    char p, q;
    char reply[96];
};

/* Where a buffer of kind `k` lives; `local` is the caller's stack slot. The
 * read-only page holds `value` (made writable for a moment to put it there). */
static void *place(char k, void *local, int value)
{
    switch (k) {
    case 's':
        memcpy(local, &value, sizeof value);
        return local;
    case 'h':
        memcpy(heap, &value, sizeof value);
        return heap;
    case 'r':
        SETUP(mprotect(readonly, page_size(), PROT_READ | PROT_WRITE) == 0);
        memcpy(readonly, &value, sizeof value);
        SETUP(mprotect(readonly, page_size(), PROT_READ) == 0);
        return readonly;
    case 'u':
        return unmapped;
    default:
        return NULL;
    }
}

static int readable(char k, const void *p)
{
    return k == 's' || k == 'h' || k == 'r' ? *(const int *)p : -1;
}

static void do_call(struct call *c)
{
    int v, l;
    int fd = fds[c->s];
    if (!strcmp(c->verb, "set")) {
        const void *val = place(c->p, &v, c->value);
        errno = ERRNO_SENTINEL;
        int rc = setsockopt(fd, c->level, c->opt, val, (socklen_t)c->len);
        snprintf(c->reply, sizeof c->reply, "%d %d", rc, errno);
    } else {
        int *val = place(c->p, &v, -12345);
        socklen_t *len = place(c->q, &l, c->len);
        errno = ERRNO_SENTINEL;
        int rc = getsockopt(fd, c->level, c->opt, val, len);
        snprintf(c->reply, sizeof c->reply, "%d %d %d %d", rc, errno, readable(c->p, val), readable(c->q, len));
    }
}

static void *on_thread(void *arg)
{
    do_call(arg);
    return NULL;
}

/* The client port of the connection socket `fd` belongs to. */
static int client_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    if (a.sin_port != listener_addr.sin_port)
        return ntohs(a.sin_port);
    len = sizeof a;
    if (getpeername(fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    return ntohs(a.sin_port);
}

static void connect_pair(int *client, int *server)
{
    *client = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(*client >= 0);
    connect_to(*client, &listener_addr);
    *server = accept_one(listener);
}

/* The client port of each slot's connection, learned when it was made: a fault
 * breaks the connection (SPEC 7), after which the kernel no longer names its
 * peer. */
static int ports[SOCKETS];

int main(int argc, char **argv)
{
    int fresh = arg_is(argc, argv, "fresh");
    heap = malloc(64);
    SETUP(heap != NULL);
    readonly = map_pages(1);
    unmapped = page_unmapped();
    listener = listener_on("127.0.0.1", &listener_addr);
    for (int i = 0; i < SOCKETS; i += 2) {
        connect_pair(&fds[i], &fds[i + 1]);
        ports[i] = ports[i + 1] = client_port(fds[i]);
    }

    char line[160];
    while (fgets(line, sizeof line, stdin)) {
        struct call c;
        memset(&c, 0, sizeof c);
        int t;
        if (sscanf(line, "set %d %d %d %d %d %c", &c.s, &c.level, &c.opt, &c.len, &c.value, &c.p) == 6) {
            strcpy(c.verb, "set");
        } else if (sscanf(line, "get %d %d %d %d %c %c", &c.s, &c.level, &c.opt, &c.len, &c.p, &c.q) == 6) {
            strcpy(c.verb, "get");
        } else if (sscanf(line, "dup %d %d", &c.s, &t) == 2) {
            printf("ok %d\n", dup2(fds[c.s], fds[t]) == fds[t]);
            ports[t] = ports[c.s];
            fflush(stdout);
            continue;
        } else if (sscanf(line, "renew %d", &c.s) == 1) {
            int client, server;
            connect_pair(&client, &server);
            SETUP(dup2(client, fds[c.s]) == fds[c.s]);
            ports[c.s] = client_port(client);
            close(client);
            close(server);
            printf("ok\n");
            fflush(stdout);
            continue;
        } else if (sscanf(line, "port %d", &c.s) == 1) {
            printf("%d\n", ports[c.s]);
            fflush(stdout);
            continue;
        } else if (!strncmp(line, "quit", 4)) {
            printf("hits %llu\n", wsd_memo_hits());
            fflush(stdout);
            break;
        } else {
            fprintf(stderr, "memo: bad command %s", line);
            return 2;
        }
        if (c.s < 0 || c.s >= SOCKETS) {
            fprintf(stderr, "memo: no socket %d\n", c.s);
            return 2;
        }
        if (fresh) {
            pthread_t th;
            SETUP(pthread_create(&th, NULL, on_thread, &c) == 0);
            SETUP(pthread_join(th, NULL) == 0);
        } else {
            do_call(&c);
        }
        printf("%s\n", c.reply);
        fflush(stdout);
    }
    return 0;
}
