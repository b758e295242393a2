/*
 * direct_api.c — WSPSetSockOpt/WSPGetSockOpt called directly (SPEC §2, §3, §2.3):
 * which descriptors are the provider's, every check of §2.2 and its order, both
 * numberings, BOOL normalisation, option sizes, errno left alone, and the code
 * helpers. argv[1] "groups-off" (WSD_GROUPS=off): the group options are unknown.
 */
#include "harness.h"

#include <fcntl.h>
#include <limits.h>

#define WSOL WSD_SOL_SOCKET /* 0xffff */
#define LSOL SOL_SOCKET     /* 1 */
#define BAD_LEVEL 0x1234
#define WS_SO_KEEPALIVE 0x0008
#define WS_SO_RCVBUF 0x1002

/* Row 1: descriptors that are not open TCP stream sockets. */
static void not_sockets(void)
{
    int p[2], u, x, closed;
    SETUP(pipe(p) == 0);
    SETUP((u = socket(AF_INET, SOCK_DGRAM, 0)) >= 0);
    SETUP((x = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
    SETUP((closed = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    close(closed);
    int fds[] = { p[0], p[1], u, x, closed, -1, 1 << 30 };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        int fd = fds[i], v = 0, len = sizeof v;
        CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_PRIORITY, 1), WSAENOTSOCK);
        CHECK_EQ(wsp_set(fd, LSOL, SO_DEBUG, 1), WSAENOTSOCK);
        /* Row 1 decides before anything about the call is looked at. */
        CHECK_EQ(wsp_set(fd, BAD_LEVEL, 1, 1), WSAENOTSOCK);
        CHECK_EQ(wsp_set_raw(fd, WSOL, SO_GROUP_PRIORITY, NULL, -1), WSAENOTSOCK);
        CHECK_EQ(wsp_get_raw(fd, WSOL, SO_GROUP_PRIORITY, &v, &len), WSAENOTSOCK);
        CHECK_EQ(wsp_get_raw(fd, BAD_LEVEL, 1, NULL, NULL), WSAENOTSOCK);
    }
    /* The refused descriptors are left as they were. */
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(set_int(u, SOL_SOCKET, SO_GROUP_PRIORITY, 1), ENOPROTOOPT);
    close(p[0]);
    close(p[1]);
    close(u);
    close(x);
}

/* A plain, unconnected TCP socket is the provider's: endpoint made on first use. */
static void unconnected_socket(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(s >= 0);
    CHECK_EQ(wsp_value_of(s, WSOL, SO_GROUP_PRIORITY), 0);
    CHECK_EQ(wsp_set(s, WSOL, SO_GROUP_PRIORITY, 5), 0);
    CHECK_EQ(wsp_value_of(s, WSOL, SO_GROUP_PRIORITY), 5);
    CHECK_EQ(wsp_set(s, WSOL, WSD_SO_DEBUG, 1), 0);
    CHECK_EQ(wsp_value_of(s, LSOL, SO_DEBUG), 1);
    CHECK_EQ(wsp_set(s, WSOL, WSD_SO_DEBUG, 0), 0);
    close(s);

    int s6 = socket(AF_INET6, SOCK_STREAM, 0);
    if (s6 >= 0) { /* IPv6 may be absent from the machine */
        CHECK_EQ(wsp_set(s6, WSOL, SO_GROUP_PRIORITY, 6), 0);
        CHECK_EQ(wsp_value_of(s6, WSOL, SO_GROUP_PRIORITY), 6);
        close(s6);
    }
}

/* Every row of §2.2 on socket `fd`, with groups on. */
static void set_rows(int fd)
{
    int v = 3;
    /* Row 3: the level. */
    CHECK_EQ(wsp_set(fd, BAD_LEVEL, SO_GROUP_PRIORITY, 1), WSAEINVAL);
    CHECK_EQ(wsp_set(fd, BAD_LEVEL, WSD_SO_DEBUG, 1), WSAEINVAL);
    CHECK_EQ(wsp_set(fd, 0, SO_GROUP_PRIORITY, 1), WSAEINVAL);
    CHECK_EQ(wsp_set(fd, IPPROTO_IP, 1, 1), WSAEINVAL);
    CHECK_EQ(wsp_set(fd, WSD_IPPROTO_TCP, SO_GROUP_PRIORITY, 1), WSAEINVAL);
    CHECK_EQ(wsp_set(fd, WSD_IPPROTO_TCP, TCP_KEEPIDLE, 30), WSAEINVAL);
    /* Row 4: valid level, option not in the table. */
    CHECK_EQ(wsp_set(fd, WSD_IPPROTO_TCP, WSD_TCP_NODELAY, 1), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, LSOL, SO_KEEPALIVE, 1), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, WSOL, WS_SO_KEEPALIVE, 1), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, WSOL, WS_SO_RCVBUF, 65536), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, LSOL, SO_RCVBUF, 65536), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, LSOL, SO_LINGER, 0), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_ID, 1), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, LSOL, SO_GROUP_ID, 1), WSAENOPROTOOPT);
    /* Row 5: optval and optlen. */
    int opts[] = { SO_GROUP_PRIORITY, WSD_SO_DEBUG };
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(wsp_set_raw(fd, WSOL, opts[i], &v, 3), WSAEFAULT);
        CHECK_EQ(wsp_set_raw(fd, WSOL, opts[i], &v, 0), WSAEFAULT);
        CHECK_EQ(wsp_set_raw(fd, WSOL, opts[i], &v, -1), WSAEFAULT);
        CHECK_EQ(wsp_set_raw(fd, WSOL, opts[i], &v, INT_MIN), WSAEFAULT);
        CHECK_EQ(wsp_set_raw(fd, WSOL, opts[i], NULL, 4), WSAEFAULT);
    }
    /* Row 6: the value. */
    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_PRIORITY, -1), WSAEINVAL);
    CHECK_EQ(wsp_set(fd, LSOL, SO_GROUP_PRIORITY, INT_MIN), WSAEINVAL);
    /* Order: the first failing row decides. */
    CHECK_EQ(wsp_set_raw(fd, BAD_LEVEL, SO_GROUP_PRIORITY, NULL, 4), WSAEINVAL);
    CHECK_EQ(wsp_set_raw(fd, BAD_LEVEL, WSD_SO_DEBUG, &v, 0), WSAEINVAL);
    CHECK_EQ(wsp_set_raw(fd, WSD_IPPROTO_TCP, 0x2002, NULL, -1), WSAEINVAL);
    CHECK_EQ(wsp_set_raw(fd, WSD_IPPROTO_TCP, WSD_TCP_NODELAY, NULL, 4), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set_raw(fd, LSOL, SO_KEEPALIVE, &v, -1), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set_raw(fd, WSOL, SO_GROUP_ID, NULL, 0), WSAENOPROTOOPT);
    int minus_one = -1;
    CHECK_EQ(wsp_set_raw(fd, WSOL, SO_GROUP_PRIORITY, &minus_one, 3), WSAEFAULT);
    CHECK_EQ(wsp_set_raw(fd, WSOL, SO_GROUP_PRIORITY, NULL, 0), WSAEFAULT);
}

/* Values: stored only on success, both numberings, BOOL normalised, own size. */
static void set_values(int fd)
{
    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_PRIORITY, 9), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, SO_GROUP_PRIORITY), 9);
    set_rows(fd); /* every refused call leaves the value alone */
    CHECK_EQ(wsp_value_of(fd, WSOL, SO_GROUP_PRIORITY), 9);
    CHECK_EQ(wsp_value_of(fd, WSOL, WSD_SO_DEBUG), 0);

    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_PRIORITY, 11), 0);
    CHECK_EQ(wsp_value_of(fd, LSOL, SO_GROUP_PRIORITY), 11);
    CHECK_EQ(wsp_set(fd, LSOL, SO_GROUP_PRIORITY, 12), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, SO_GROUP_PRIORITY), 12);
    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_PRIORITY, 0), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, SO_GROUP_PRIORITY), 0);
    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_PRIORITY, INT_MAX), 0);
    CHECK_EQ(wsp_value_of(fd, LSOL, SO_GROUP_PRIORITY), INT_MAX);

    /* BOOL: any nonzero value is TRUE and reads back 1. */
    CHECK_EQ(wsp_set(fd, WSOL, WSD_SO_DEBUG, 2), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, WSD_SO_DEBUG), 1);
    CHECK_EQ(wsp_set(fd, LSOL, SO_DEBUG, 0), 0);
    CHECK_EQ(wsp_value_of(fd, LSOL, SO_DEBUG), 0);
    CHECK_EQ(wsp_set(fd, LSOL, SO_DEBUG, -1), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, WSD_SO_DEBUG), 1);
    CHECK_EQ(wsp_set(fd, WSOL, WSD_SO_DEBUG, 0x100), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, WSD_SO_DEBUG), 1);
    CHECK_EQ(wsp_set(fd, WSOL, WSD_SO_DEBUG, 0), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, WSD_SO_DEBUG), 0);

    /* A larger optlen is accepted; only the first 4 bytes are read. */
    int two[2] = { 21, -1 };
    CHECK_EQ(wsp_set_raw(fd, WSOL, SO_GROUP_PRIORITY, two, 8), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, SO_GROUP_PRIORITY), 21);
    static int big[1024];
    big[0] = 22;
    big[1] = -5;
    CHECK_EQ(wsp_set_raw(fd, WSOL, SO_GROUP_PRIORITY, big, 4096), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, SO_GROUP_PRIORITY), 22);
    CHECK_EQ(wsp_set_raw(fd, LSOL, SO_DEBUG, big, 4096), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, WSD_SO_DEBUG), 1);
    CHECK_EQ(wsp_set(fd, WSOL, WSD_SO_DEBUG, 0), 0);

    /* The direct API and the interposed calls see the same values. */
    CHECK_EQ(value_of(fd, WSOL, SO_GROUP_PRIORITY), 22);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, 23), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, SO_GROUP_PRIORITY), 23);
}

/* WSPGetSockOpt (§3). */
static void get_rows(int fd)
{
    int v, len;
    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_PRIORITY, 4), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, SO_GROUP_ID), 0);
    CHECK_EQ(wsp_value_of(fd, LSOL, SO_GROUP_ID), 0);

    v = -5, len = 2;
    CHECK_EQ(wsp_get_raw(fd, WSOL, SO_GROUP_PRIORITY, &v, &len), WSAEFAULT);
    CHECK_EQ(len, 4);
    CHECK_EQ(v, -5);
    len = 0;
    CHECK_EQ(wsp_get_raw(fd, LSOL, SO_DEBUG, &v, &len), WSAEFAULT);
    CHECK_EQ(len, 4);
    len = -1;
    CHECK_EQ(wsp_get_raw(fd, WSOL, SO_GROUP_ID, &v, &len), WSAEFAULT);
    CHECK_EQ(len, 4);

    int two[2] = { -5, -6 };
    len = 8;
    CHECK_EQ(wsp_get_raw(fd, WSOL, SO_GROUP_PRIORITY, two, &len), 0);
    CHECK_EQ(len, 4);
    CHECK_EQ(two[0], 4);
    CHECK_EQ(two[1], -6);

    len = 4;
    CHECK_EQ(wsp_get_raw(fd, WSOL, SO_GROUP_PRIORITY, NULL, &len), WSAEFAULT);
    CHECK_EQ(wsp_get_raw(fd, WSOL, SO_GROUP_PRIORITY, &v, NULL), WSAEFAULT);
    len = 4;
    CHECK_EQ(wsp_get_raw(fd, BAD_LEVEL, SO_GROUP_PRIORITY, &v, &len), WSAEINVAL);
    CHECK_EQ(wsp_get_raw(fd, WSD_IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), WSAEINVAL);
    CHECK_EQ(wsp_get_raw(fd, WSD_IPPROTO_TCP, WSD_TCP_NODELAY, &v, &len), WSAENOPROTOOPT);
    CHECK_EQ(wsp_get_raw(fd, LSOL, SO_KEEPALIVE, &v, &len), WSAENOPROTOOPT);
    CHECK_EQ(wsp_get_raw(fd, WSOL, WS_SO_RCVBUF, &v, &len), WSAENOPROTOOPT);
    /* Order. */
    CHECK_EQ(wsp_get_raw(fd, BAD_LEVEL, SO_GROUP_PRIORITY, NULL, NULL), WSAEINVAL);
    CHECK_EQ(wsp_get_raw(fd, LSOL, SO_KEEPALIVE, NULL, NULL), WSAENOPROTOOPT);
}

/* The same on a socket whose WSD_GROUPS=off provider knows no group options. */
static void groups_off(int fd)
{
    int v = 1, len = sizeof v;
    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_PRIORITY, 7), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, LSOL, SO_GROUP_PRIORITY, 7), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_PRIORITY, -1), WSAENOPROTOOPT); /* row 4 before 6 */
    CHECK_EQ(wsp_set_raw(fd, WSOL, SO_GROUP_PRIORITY, &v, 3), WSAENOPROTOOPT); /* before 5 */
    CHECK_EQ(wsp_set(fd, WSOL, SO_GROUP_ID, 1), WSAENOPROTOOPT);
    CHECK_EQ(wsp_get_raw(fd, WSOL, SO_GROUP_PRIORITY, &v, &len), WSAENOPROTOOPT);
    CHECK_EQ(wsp_get_raw(fd, LSOL, SO_GROUP_PRIORITY, &v, &len), WSAENOPROTOOPT);
    CHECK_EQ(wsp_get_raw(fd, WSOL, SO_GROUP_ID, &v, &len), WSAENOPROTOOPT);
    CHECK_EQ(wsp_get_raw(fd, LSOL, SO_GROUP_ID, &v, &len), WSAENOPROTOOPT);
    CHECK_EQ(wsp_set(fd, BAD_LEVEL, SO_GROUP_PRIORITY, 1), WSAEINVAL);
    CHECK_EQ(wsp_set(fd, WSD_IPPROTO_TCP, WSD_TCP_NODELAY, 1), WSAENOPROTOOPT);
    /* SO_DEBUG is no group option. */
    CHECK_EQ(wsp_set(fd, WSOL, WSD_SO_DEBUG, 2), 0);
    CHECK_EQ(wsp_value_of(fd, LSOL, SO_DEBUG), 1);
    CHECK_EQ(wsp_set(fd, LSOL, SO_DEBUG, 0), 0);
    CHECK_EQ(wsp_value_of(fd, WSOL, WSD_SO_DEBUG), 0);
    CHECK_EQ(wsp_set_raw(fd, WSOL, WSD_SO_DEBUG, &v, 3), WSAEFAULT);
}

/* A NULL lpErrno on failure: SOCKET_ERROR, nothing written, no crash. */
static void null_lp_errno(int fd)
{
    int v = -1;
    errno = ERRNO_SENTINEL;
    CHECK_EQ(WSPSetSockOpt(fd, WSOL, SO_GROUP_PRIORITY, (const char *)&v, 4, NULL), SOCKET_ERROR);
    CHECK_EQ(errno, ERRNO_SENTINEL);
    int len = 4;
    CHECK_EQ(WSPGetSockOpt(fd, BAD_LEVEL, 1, (char *)&v, &len, NULL), SOCKET_ERROR);
    CHECK_EQ(errno, ERRNO_SENTINEL);
}

static void code_helpers(void)
{
    static const struct {
        int wsa, err;
        const char *words;
    } codes[] = {
        { WSAENETDOWN, ENETDOWN, "Network subsystem failed" },
        { WSAEFAULT, EFAULT, "optval" },
        { WSAEINVAL, EINVAL, "level" },
        { WSAENETRESET, ENETRESET, "keep-alive" },
        { WSAENOPROTOOPT, ENOPROTOOPT, "unknown or unsupported" },
        { WSAENOTCONN, ENOTCONN, "reset" },
        { WSAENOTSOCK, ENOTSOCK, "not a socket" },
    };
    /* The numbers of SPEC §2.3 (x86-64). */
    CHECK_EQ(WSAENETDOWN, 10050);
    CHECK_EQ(WSAEFAULT, 10014);
    CHECK_EQ(WSAEINVAL, 10022);
    CHECK_EQ(WSAENETRESET, 10052);
    CHECK_EQ(WSAENOPROTOOPT, 10042);
    CHECK_EQ(WSAENOTCONN, 10057);
    CHECK_EQ(WSAENOTSOCK, 10038);
    const char *unknown = wsd_strerror(12345);
    CHECK(unknown && strcmp(unknown, "Unknown error code.") == 0);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK_EQ(wsd_errno_from_wsa(codes[i].wsa), codes[i].err);
        CHECK_EQ(wsd_wsa_from_errno(codes[i].err), codes[i].wsa);
        const char *text = wsd_strerror(codes[i].wsa);
        CHECK(text != NULL && strstr(text, codes[i].words) != NULL);
        CHECK(text != NULL && strcmp(text, unknown) != 0);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(text, wsd_strerror(codes[j].wsa)) != 0);
    }
    /* Never answered: WSAEINPROGRESS, WSAECONNRESET; and other numbers. */
    int others[] = { 0, -1, 10036, 10054, 10013, EFAULT, 99999 };
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        CHECK_EQ(wsd_errno_from_wsa(others[i]), 0);
        CHECK(strcmp(wsd_strerror(others[i]), unknown) == 0);
    }
    int errnos[] = { 0, EAGAIN, ECONNRESET, EINPROGRESS, EBADF, 10014 };
    for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
        CHECK_EQ(wsd_wsa_from_errno(errnos[i]), 0);
}

/* A failure inside a hook is recovered from: the library's unwinder works (it is
 * linked in statically, see build.rs). */
static void recovers_from_a_failure(void)
{
    CHECK_EQ(wsd_self_test(), 0);
}

int main(int argc, char **argv)
{
    int off = arg_is(argc, argv, "groups-off");
    struct conn c = loopback_conn();
    int s = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(s >= 0);
    int fds[] = { c.client, c.server, s };

    not_sockets();
    for (int i = 0; i < 3; i++) {
        if (off) {
            groups_off(fds[i]);
        } else {
            set_values(fds[i]);
            get_rows(fds[i]);
        }
        null_lp_errno(fds[i]);
    }
    if (!off)
        unconnected_socket();
    code_helpers();
    recovers_from_a_failure();
    close(s);
    close_conn(c);
    harness_done();
}
