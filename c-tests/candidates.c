/*
 * candidates.c — TCP sockets whose role is not known yet (SPEC §4.2).
 *
 * The switch answers the provider options on a candidate itself (validated as §2.2
 * rows 3-6) and remembers them; every other option goes to the kernel. When the
 * candidate becomes a SAN socket the values are replayed to the provider, which
 * then answers them (read back through WSPGetSockOpt, which reads the endpoint).
 *
 * argv[1] "nonsan" (WSD_SUBNETS=127.0.0.2/32): 127.0.0.1 is not a SAN address. A
 * socket that remembered values keeps answering them as plain TCP; one that
 * remembered nothing is left to the kernel.
 */
#include "harness.h"

#include <sys/wait.h>

#define WSOL WSD_SOL_SOCKET

/* Sets SO_GROUP_PRIORITY on `fd` in a forked child; returns the child's result.
 * Only a SAN socket's values live in the shared segment, so only then does the
 * parent see the child's value: this tells a SAN socket from a remembering one. */
static int set_in_child(int fd, int value)
{
    fflush(NULL);
    pid_t pid = fork();
    SETUP(pid >= 0);
    if (pid == 0)
        _exit(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, value));
    int status;
    SETUP(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The switch answers and remembers; the kernel never sees the provider options. */
static void candidate_options(int fd)
{
    int v = 1;
    socklen_t len;
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_GROUP_PRIORITY), 0);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_DEBUG), 0);
    CHECK_EQ(set_int(fd, WSOL, SO_GROUP_PRIORITY, 7), 0);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_GROUP_PRIORITY), 7);
    CHECK_EQ(value_of(fd, WSOL, SO_GROUP_PRIORITY), 7);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, -1), EINVAL);
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v, 3), EFAULT);
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY, NULL, 4), EFAULT);
    CHECK_EQ(value_of(fd, WSOL, SO_GROUP_PRIORITY), 7);
    len = 2;
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v, &len), -1);
    CHECK_EQ(errno, EFAULT);
    CHECK_EQ(len, 4);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_GROUP_ID), 0);

    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_DEBUG, 2), 0);
    CHECK_EQ(value_of(fd, WSOL, WSD_SO_DEBUG), 1);
    CHECK_EQ(kernel_value_of(fd, SOL_SOCKET, SO_DEBUG), 0);
    CHECK_EQ(set_raw(fd, WSOL, WSD_SO_DEBUG, &v, 3), EFAULT);

    /* Not provider options: the kernel's. */
    CHECK_EQ(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    CHECK_EQ(kernel_value_of(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
    CHECK_EQ(kernel_value_of(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    CHECK_EQ(set_int(fd, 0x1234, SO_GROUP_PRIORITY, 1), kernel_set_int(fd, 0x1234, SO_GROUP_PRIORITY, 1));
    CHECK_EQ(set_int(fd, 0x1234, SO_GROUP_PRIORITY, 1), ENOPROTOOPT);
}

/* Both numberings; a candidate's own values replace one another. */
static void numberings(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(s >= 0);
    CHECK_EQ(set_int(s, SOL_SOCKET, SO_GROUP_PRIORITY, 3), 0);
    CHECK_EQ(set_int(s, WSOL, SO_GROUP_PRIORITY, 4), 0);
    CHECK_EQ(value_of(s, SOL_SOCKET, SO_GROUP_PRIORITY), 4);
    CHECK_EQ(set_int(s, WSOL, WSD_SO_DEBUG, 1), 0);
    CHECK_EQ(set_int(s, SOL_SOCKET, SO_DEBUG, 0), 0);
    CHECK_EQ(value_of(s, WSOL, WSD_SO_DEBUG), 0);
    close(s);
}

/* After connect() to a SAN address the provider holds the replayed values. */
static void replay(void)
{
    struct sockaddr_in addr;
    int l = listener_on("127.0.0.1", &addr);

    int c = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(c >= 0);
    candidate_options(c);
    connect_to(c, &addr);
    int s = accept_one(l);
    CHECK_EQ(value_of(c, SOL_SOCKET, SO_GROUP_PRIORITY), 7);
    CHECK_EQ(set_in_child(c, 17), 0);
    CHECK_EQ(value_of(c, SOL_SOCKET, SO_GROUP_PRIORITY), 17); /* the segment's value */
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_GROUP_PRIORITY, 7), 0);
    CHECK_EQ(wsp_value_of(c, WSOL, SO_GROUP_PRIORITY), 7);
    CHECK_EQ(wsp_value_of(c, WSOL, WSD_SO_DEBUG), 1);
    CHECK_EQ(value_of(c, SOL_SOCKET, SO_DEBUG), 1);
    CHECK_EQ(kernel_value_of(c, SOL_SOCKET, SO_DEBUG), 0);
    CHECK_EQ(kernel_value_of(c, IPPROTO_TCP, TCP_NODELAY), 1);
    /* Now a SAN socket: sets reach the provider. */
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_GROUP_PRIORITY, 8), 0);
    CHECK_EQ(wsp_value_of(c, WSOL, SO_GROUP_PRIORITY), 8);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_DEBUG, 0), 0);
    CHECK_EQ(wsp_value_of(c, WSOL, WSD_SO_DEBUG), 0);
    /* The accepted end is a SAN socket too. */
    CHECK_EQ(set_in_child(s, 19), 0);
    CHECK_EQ(value_of(s, SOL_SOCKET, SO_GROUP_PRIORITY), 19);
    close(s);
    close(c);

    /* A candidate that remembered nothing reads the provider's defaults. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(c >= 0);
    connect_to(c, &addr);
    s = accept_one(l);
    CHECK_EQ(wsp_value_of(c, WSOL, SO_GROUP_PRIORITY), 0);
    CHECK_EQ(wsp_value_of(c, WSOL, WSD_SO_DEBUG), 0);
    CHECK_EQ(set_int(c, WSOL, SO_GROUP_PRIORITY, 2), 0);
    CHECK_EQ(wsp_value_of(c, WSOL, SO_GROUP_PRIORITY), 2);
    close(s);
    close(c);
    close(l);

    /* A listener: values set before listen() are replayed at listen(). */
    l = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(l >= 0);
    CHECK_EQ(set_int(l, WSOL, SO_GROUP_PRIORITY, 4), 0);
    bind_to(l, "127.0.0.1", &addr);
    CHECK_EQ(value_of(l, SOL_SOCKET, SO_GROUP_PRIORITY), 4);
    SETUP(listen(l, 4) == 0);
    CHECK_EQ(value_of(l, SOL_SOCKET, SO_GROUP_PRIORITY), 4);
    CHECK_EQ(set_in_child(l, 14), 0);
    CHECK_EQ(wsp_value_of(l, WSOL, SO_GROUP_PRIORITY), 14);
    close(l);
}

/* The same over IPv6 loopback (::1/128 is in the default table). */
static void replay_ipv6(void)
{
    struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0) {
        printf("IPv6 loopback unavailable: IPv6 checks skipped\n");
        if (l >= 0)
            close(l);
        return;
    }
    socklen_t len = sizeof a;
    SETUP(getsockname(l, (struct sockaddr *)&a, &len) == 0);
    SETUP(listen(l, 4) == 0);
    int c = socket(AF_INET6, SOCK_STREAM, 0);
    SETUP(c >= 0);
    CHECK_EQ(set_int(c, WSOL, SO_GROUP_PRIORITY, 7), 0);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_DEBUG, 1), 0);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_GROUP_PRIORITY, -1), EINVAL);
    SETUP(connect(c, (struct sockaddr *)&a, sizeof a) == 0);
    int s = accept_one(l);
    CHECK_EQ(value_of(c, SOL_SOCKET, SO_GROUP_PRIORITY), 7);
    CHECK_EQ(set_in_child(c, 17), 0);
    CHECK_EQ(wsp_value_of(c, WSOL, SO_GROUP_PRIORITY), 17);
    CHECK_EQ(wsp_value_of(c, WSOL, WSD_SO_DEBUG), 1);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_DEBUG, 0), 0);
    CHECK_EQ(set_in_child(s, 18), 0);
    CHECK_EQ(value_of(s, SOL_SOCKET, SO_GROUP_PRIORITY), 18);
    close(s);
    close(c);
    close(l);
}

/* WSD_SUBNETS=127.0.0.2/32: connecting to 127.0.0.1 makes plain TCP. */
static void not_san(void)
{
    struct sockaddr_in addr;
    int l = listener_on("127.0.0.1", &addr);

    /* Remembered values stay the switch's to answer. */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(c >= 0);
    candidate_options(c);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_DEBUG, 0), 0);
    connect_to(c, &addr);
    int s = accept_one(l);
    CHECK_EQ(value_of(c, SOL_SOCKET, SO_GROUP_PRIORITY), 7);
    CHECK_EQ(value_of(c, WSOL, WSD_SO_DEBUG), 0);
    CHECK_EQ(set_int(c, WSOL, SO_GROUP_PRIORITY, 9), 0);
    CHECK_EQ(value_of(c, SOL_SOCKET, SO_GROUP_PRIORITY), 9);
    CHECK_EQ(set_int(c, WSOL, SO_GROUP_PRIORITY, -1), EINVAL);
    int v = 1;
    CHECK_EQ(set_raw(c, WSOL, SO_GROUP_PRIORITY, &v, 3), EFAULT);
    CHECK_EQ(value_of(c, SOL_SOCKET, SO_GROUP_PRIORITY), 9);
    CHECK_EQ(set_int(c, IPPROTO_TCP, TCP_NODELAY, 0), 0);
    CHECK_EQ(kernel_value_of(c, IPPROTO_TCP, TCP_NODELAY), 0);
    /* The accepted end, from a listener that is not on a SAN address: the kernel's. */
    CHECK_EQ(set_int(s, SOL_SOCKET, SO_GROUP_PRIORITY, 1), ENOPROTOOPT);
    CHECK_EQ(get_int(s, SOL_SOCKET, SO_GROUP_PRIORITY, &v), ENOPROTOOPT);
    CHECK_EQ(set_int(l, SOL_SOCKET, SO_GROUP_PRIORITY, 1), ENOPROTOOPT);
    close(s);
    close(c);

    /* Nothing remembered: untouched, the kernel answers everything. */
    c = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(c >= 0);
    CHECK_EQ(value_of(c, SOL_SOCKET, SO_GROUP_PRIORITY), 0); /* a look, not a set */
    connect_to(c, &addr);
    s = accept_one(l);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_GROUP_PRIORITY, 1), ENOPROTOOPT);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_GROUP_PRIORITY, -1), ENOPROTOOPT);
    CHECK_EQ(set_raw(c, SOL_SOCKET, SO_GROUP_PRIORITY, &v, 3), EINVAL);
    CHECK_EQ(get_int(c, SOL_SOCKET, SO_GROUP_PRIORITY, &v), ENOPROTOOPT);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_DEBUG, 1), kernel_set_int(s, SOL_SOCKET, SO_DEBUG, 1));
    close(s);
    close(c);
    close(l);

    /* 127.0.0.2 is in the table: a SAN connection, with the values replayed. */
    l = listener_on("127.0.0.2", &addr);
    c = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(c >= 0);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_GROUP_PRIORITY, 6), 0);
    connect_to(c, &addr);
    s = accept_one(l);
    CHECK_EQ(value_of(c, SOL_SOCKET, SO_GROUP_PRIORITY), 6);
    CHECK_EQ(set_in_child(c, 16), 0);
    CHECK_EQ(wsp_value_of(c, WSOL, SO_GROUP_PRIORITY), 16);
    CHECK_EQ(set_int(c, SOL_SOCKET, SO_GROUP_PRIORITY, -1), EINVAL);
    close(s);
    close(c);
    close(l);
}

int main(int argc, char **argv)
{
    numberings();
    if (arg_is(argc, argv, "nonsan"))
        not_san();
    else {
        replay();
        replay_ipv6();
    }
    harness_done();
}
