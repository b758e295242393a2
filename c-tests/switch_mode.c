/*
 * switch_mode.c — the interposed setsockopt/getsockopt on SAN sockets of a real
 * loopback connection (SPEC §4.2, §4.3), both ends and the listener.
 *
 *   switch               (default WSD_MODE): provider options go to the provider,
 *                        every other option to the kernel
 *   provider             (WSD_MODE=provider): every set goes to the provider
 *   groups-off           (WSD_GROUPS=off): the switch itself keeps group options
 *   provider-groups-off  (both): group options are unknown (ENOPROTOOPT)
 */
#include "harness.h"

#define WSOL WSD_SOL_SOCKET
#define BAD_LEVEL 0x1234
#define WS_SO_KEEPALIVE 0x0008

static int provider_mode; /* WSD_MODE=provider */
static int groups_known;  /* the group options are answered, by provider or switch */

/* SO_GROUP_PRIORITY and SO_GROUP_ID. */
static void group_options(int fd)
{
    int v = 1;
    socklen_t len;
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_ID, 1), ENOPROTOOPT); /* read-only */
    if (!groups_known) {
        CHECK_EQ(set_int(fd, WSOL, SO_GROUP_PRIORITY, 7), ENOPROTOOPT);
        CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, 7), ENOPROTOOPT);
        CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, -1), ENOPROTOOPT);
        CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v, 3), ENOPROTOOPT);
        CHECK_EQ(get_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v), ENOPROTOOPT);
        CHECK_EQ(get_int(fd, WSOL, SO_GROUP_ID, &v), ENOPROTOOPT);
        CHECK_EQ(get_int(fd, SOL_SOCKET, SO_GROUP_ID, &v), ENOPROTOOPT);
        return;
    }
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_GROUP_PRIORITY), 0);
    CHECK_EQ(set_int(fd, WSOL, SO_GROUP_PRIORITY, 7), 0);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_GROUP_PRIORITY), 7);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, 8), 0);
    CHECK_EQ(value_of(fd, WSOL, SO_GROUP_PRIORITY), 8);

    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, -1), EINVAL);
    CHECK_EQ(set_int(fd, WSOL, SO_GROUP_PRIORITY, -100), EINVAL);
    CHECK_EQ(set_raw(fd, WSOL, SO_GROUP_PRIORITY, &v, 3), EFAULT);
    CHECK_EQ(set_raw(fd, WSOL, SO_GROUP_PRIORITY, &v, 0), EFAULT);
    CHECK_EQ(set_raw(fd, WSOL, SO_GROUP_PRIORITY, NULL, 4), EFAULT);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_GROUP_PRIORITY), 8);

    v = -5;
    len = 2;
    CHECK_EQ(getsockopt(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v, &len), -1);
    CHECK_EQ(errno, EFAULT);
    CHECK_EQ(len, 4);
    CHECK_EQ(v, -5);

    int two[2] = { -5, -6 };
    len = sizeof two;
    CHECK_EQ(getsockopt(fd, WSOL, SO_GROUP_PRIORITY, two, &len), 0);
    CHECK_EQ(len, 4);
    CHECK_EQ(two[0], 8);
    CHECK_EQ(two[1], -6);

    CHECK_EQ(value_of(fd, WSOL, SO_GROUP_ID), 0);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_GROUP_ID), 0);
}

/* SO_DEBUG: a provider option in every mode here; the kernel never sees it. */
static void debug_option(int fd)
{
    int v = 1;
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_DEBUG, 2), 0);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_DEBUG), 1);
    CHECK_EQ(value_of(fd, WSOL, WSD_SO_DEBUG), 1);
    CHECK_EQ(kernel_value_of(fd, SOL_SOCKET, SO_DEBUG), 0);
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_DEBUG, &v, 3), EFAULT);
    CHECK_EQ(set_int(fd, WSOL, WSD_SO_DEBUG, 0), 0);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_DEBUG), 0);
}

/* Options that are not the provider's. */
static void other_options(int fd)
{
    if (!provider_mode) {
        /* To the kernel, unchanged. */
        CHECK_EQ(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
        CHECK_EQ(kernel_value_of(fd, IPPROTO_TCP, TCP_NODELAY), 1);
        CHECK_EQ(value_of(fd, IPPROTO_TCP, TCP_NODELAY), 1);
        CHECK_EQ(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 0), 0);
        CHECK_EQ(kernel_value_of(fd, IPPROTO_TCP, TCP_NODELAY), 0);
        CHECK_EQ(set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
        CHECK_EQ(kernel_value_of(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
        CHECK_EQ(value_of(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
        CHECK_EQ(set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 31), 0);
        CHECK_EQ(kernel_value_of(fd, IPPROTO_TCP, TCP_KEEPIDLE), 31);
        /* Whatever the kernel answers, the program gets. */
        int kernel = kernel_set_int(fd, BAD_LEVEL, 1, 1);
        CHECK_EQ(kernel, ENOPROTOOPT);
        CHECK_EQ(set_int(fd, BAD_LEVEL, 1, 1), kernel);
        kernel = kernel_set_int(fd, WSOL, WS_SO_KEEPALIVE, 1);
        CHECK_EQ(set_int(fd, WSOL, WS_SO_KEEPALIVE, 1), kernel);
        CHECK_EQ(set_raw(fd, IPPROTO_TCP, TCP_NODELAY, NULL, 4), EFAULT);
        return;
    }
    /* Provider mode: the provider answers every set; nothing reaches the kernel. */
    int v = 1;
    CHECK_EQ(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1), ENOPROTOOPT);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1), ENOPROTOOPT);
    CHECK_EQ(set_int(fd, WSOL, WS_SO_KEEPALIVE, 1), ENOPROTOOPT);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_RCVBUF, 65536), ENOPROTOOPT);
    CHECK_EQ(set_int(fd, BAD_LEVEL, 1, 1), EINVAL);
    CHECK_EQ(set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 31), EINVAL);
    CHECK_EQ(set_int(fd, IPPROTO_IP, IP_TOS, 0x10), EINVAL);
    CHECK_EQ(set_raw(fd, IPPROTO_TCP, TCP_NODELAY, NULL, 4), ENOPROTOOPT); /* row 4 first */
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_KEEPALIVE, &v, 3), ENOPROTOOPT);
    CHECK_EQ(kernel_value_of(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    CHECK_EQ(kernel_value_of(fd, SOL_SOCKET, SO_KEEPALIVE), 0);
    CHECK(kernel_value_of(fd, IPPROTO_TCP, TCP_KEEPIDLE) != 31);
    /* getsockopt of those still reads the kernel. */
    CHECK_EQ(value_of(fd, IPPROTO_TCP, TCP_NODELAY), 0);
    CHECK_EQ(kernel_set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    CHECK_EQ(value_of(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    CHECK_EQ(kernel_set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1), 0);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    CHECK(value_of(fd, SOL_SOCKET, SO_RCVBUF) > 0);
}

static void all_options(int fd)
{
    group_options(fd);
    debug_option(fd);
    other_options(fd);
}

/* An accepted socket inherits its listener's SO_GROUP_PRIORITY and SO_DEBUG,
 * whether they were set before listen() (candidate) or after (SAN listener). */
static void inheritance(void)
{
    for (int after_listen = 0; after_listen < 2; after_listen++) {
        int prio = 5 + after_listen;
        struct sockaddr_in addr;
        int l = socket(AF_INET, SOCK_STREAM, 0);
        SETUP(l >= 0);
        bind_to(l, "127.0.0.1", &addr);
        if (after_listen)
            SETUP(listen(l, 4) == 0);
        /* A candidate's values are the switch's to answer (§4.2), groups or not. */
        int want = after_listen && !groups_known ? ENOPROTOOPT : 0;
        CHECK_EQ(set_int(l, WSOL, SO_GROUP_PRIORITY, prio), want);
        CHECK_EQ(set_int(l, SOL_SOCKET, SO_DEBUG, 1), 0);
        if (!after_listen)
            SETUP(listen(l, 4) == 0);
        if (groups_known)
            CHECK_EQ(value_of(l, SOL_SOCKET, SO_GROUP_PRIORITY), prio);
        CHECK_EQ(value_of(l, SOL_SOCKET, SO_DEBUG), 1);
        CHECK_EQ(kernel_value_of(l, SOL_SOCKET, SO_DEBUG), 0);

        int c = socket(AF_INET, SOCK_STREAM, 0);
        SETUP(c >= 0);
        connect_to(c, &addr);
        int s = after_listen ? accept4(l, NULL, NULL, SOCK_CLOEXEC) : accept_one(l);
        SETUP(s >= 0);
        if (groups_known)
            CHECK_EQ(value_of(s, WSOL, SO_GROUP_PRIORITY), prio);
        CHECK_EQ(value_of(s, WSOL, WSD_SO_DEBUG), 1);
        CHECK_EQ(value_of(c, SOL_SOCKET, SO_DEBUG), 0);
        /* Inherited, not shared: the accepted socket's values are its own. */
        if (groups_known) {
            CHECK_EQ(set_int(s, SOL_SOCKET, SO_GROUP_PRIORITY, 40), 0);
            CHECK_EQ(value_of(l, SOL_SOCKET, SO_GROUP_PRIORITY), prio);
        }
        CHECK_EQ(set_int(s, SOL_SOCKET, SO_DEBUG, 0), 0);
        CHECK_EQ(value_of(l, SOL_SOCKET, SO_DEBUG), 1);
        CHECK_EQ(set_int(l, SOL_SOCKET, SO_DEBUG, 0), 0);
        close(s);
        close(c);
        close(l);
    }
}

/* SPEC §6.4: while SO_DEBUG is TRUE each operation writes a line naming the pid
 * and descriptor to WSD_LOG_FILE; once FALSE, none. */
static int debug_lines_for(int fd)
{
    const char *path = getenv("WSD_LOG_FILE");
    SETUP(path != NULL);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char want[64], line[1024];
    snprintf(want, sizeof want, "pid=%d fd=%d ", (int)getpid(), fd);
    int n = 0;
    while (fgets(line, sizeof line, f))
        if (strstr(line, want) && strstr(line, "setsockopt") && strstr(line, "-> 0"))
            n++;
    fclose(f);
    return n;
}

static void debug_output(int fd)
{
    int before = debug_lines_for(fd);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_DEBUG, 1), 0);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, 3), 0);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_DEBUG, 0), 0);
    int during = debug_lines_for(fd);
    CHECK(during >= before + 2);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, 4), 0);
    CHECK_EQ(debug_lines_for(fd), during);
}

int main(int argc, char **argv)
{
    int groups_off = arg_is(argc, argv, "groups-off") || arg_is(argc, argv, "provider-groups-off");
    provider_mode = arg_is(argc, argv, "provider") || arg_is(argc, argv, "provider-groups-off");
    groups_known = !(provider_mode && groups_off);

    struct conn c = loopback_conn();
    all_options(c.client);
    all_options(c.server);
    group_options(c.listener);
    debug_option(c.listener);
    inheritance();
    if (arg_is(argc, argv, "switch"))
        debug_output(c.client);
    close_conn(c);
    harness_done();
}
