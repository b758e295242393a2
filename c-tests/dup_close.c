/*
 * dup_close.c — descriptor copies and closes of SAN sockets (SPEC §4, §5).
 *
 * Every copy (dup, dup2, dup3, F_DUPFD, F_DUPFD_CLOEXEC) refers to the same SAN
 * socket and its values; closing one copy leaves the others working. A number that
 * stops naming the SAN socket (closed, close_range, closefrom, or replaced by dup2)
 * must answer as whatever it names now. Reuse is checked with socketpair() and
 * pipe(), which the library does not interpose, so stale state cannot be cleared
 * on the way and would show.
 *
 * argv[1] "candidates": the same for copies of a socket that is still a candidate.
 */
#include "harness.h"

#include <fcntl.h>

static int prio(int fd)
{
    return value_of(fd, SOL_SOCKET, SO_GROUP_PRIORITY);
}

static int set_prio(int fd, int value)
{
    return set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, value);
}

/* Does `fd` answer the group option as the kernel does (no SAN state)? */
static void kernel_answers(int fd, int err)
{
    int v;
    CHECK_EQ(set_prio(fd, 1), err);
    CHECK_EQ(set_prio(fd, -1), err);
    CHECK_EQ(get_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v), err);
}

/* A loopback connection whose three descriptors are consecutive numbers. */
static struct conn consecutive_conn(void)
{
    struct conn c = loopback_conn();
    SETUP(c.client == c.listener + 1 && c.server == c.listener + 2);
    return c;
}

static void copies(void)
{
    struct conn c = loopback_conn();
    int s = c.client;
    CHECK_EQ(set_prio(s, 3), 0);

    int u1 = socket(AF_INET, SOCK_DGRAM, 0), u2 = socket(AF_INET, SOCK_DGRAM, 0);
    SETUP(u1 >= 0 && u2 >= 0);
    int copy[5];
    copy[0] = dup(s);
    copy[1] = dup2(s, u1); /* replaces a UDP socket */
    copy[2] = dup3(s, u2, O_CLOEXEC);
    copy[3] = fcntl(s, F_DUPFD, 100);
    copy[4] = fcntl(s, F_DUPFD_CLOEXEC, 200);
    CHECK_EQ(copy[1], u1);
    CHECK_EQ(copy[2], u2);
    CHECK(copy[3] >= 100);
    CHECK(copy[4] >= 200);
    for (int i = 0; i < 5; i++) {
        SETUP(copy[i] >= 0);
        CHECK_EQ(prio(copy[i]), 3 + i);
        CHECK_EQ(set_prio(copy[i], 4 + i), 0);
        CHECK_EQ(prio(s), 4 + i);
        CHECK_EQ(set_prio(copy[i], -1), EINVAL);
    }
    CHECK_EQ(dup2(s, s), s);
    CHECK_EQ(prio(s), 8);
    CHECK_EQ(fcntl(s, F_GETFD), 0); /* other fcntl commands change nothing */
    CHECK_EQ(prio(s), 8);

    /* Closing the original leaves every copy working. */
    CHECK_EQ(close(s), 0);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(prio(copy[i]), 8 + i);
        CHECK_EQ(set_prio(copy[i], 9 + i), 0);
        CHECK_EQ(prio(copy[(i + 1) % 5]), 9 + i);
    }
    /* The closed number, reused by a pipe: not a socket. */
    int p[2];
    SETUP(pipe(p) == 0);
    CHECK_EQ(p[0], s);
    kernel_answers(p[0], ENOTSOCK);

    /* dup2/dup3 of a UDP socket onto a SAN socket's number: UDP now. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    SETUP(u >= 0);
    CHECK_EQ(dup2(u, copy[0]), copy[0]);
    kernel_answers(copy[0], ENOPROTOOPT);
    CHECK_EQ(dup3(u, copy[3], 0), copy[3]);
    kernel_answers(copy[3], ENOPROTOOPT);
    CHECK_EQ(prio(copy[1]), 13);
    CHECK_EQ(set_prio(copy[4], 2), 0);
    CHECK_EQ(prio(copy[2]), 2);

    for (int i = 0; i < 5; i++)
        close(copy[i]);
    close(u);
    close(p[0]);
    close(p[1]);
    close(c.server);
    close(c.listener);
}

/* The numbers lo, lo + 1 and lo + 2, just closed (they named the three SAN
 * sockets of a connection), taken again by a socketpair and a pipe, then lo by a
 * UDP socket: each answers as what it names now. Closes what it made. */
static void numbers_reused(int lo)
{
    int x[2], p[2];
    SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, x) == 0);
    SETUP(pipe(p) == 0);
    CHECK_EQ(x[0], lo);
    CHECK_EQ(x[1], lo + 1);
    CHECK_EQ(p[0], lo + 2);
    kernel_answers(x[0], ENOPROTOOPT);
    kernel_answers(x[1], ENOPROTOOPT);
    kernel_answers(p[0], ENOTSOCK);
    /* A UDP socket that reuses a number. */
    close(x[0]);
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK_EQ(u, lo);
    kernel_answers(u, ENOPROTOOPT);

    close(u);
    close(x[1]);
    close(p[0]);
    close(p[1]);
}

static void ranges(void)
{
    struct conn c = consecutive_conn();
    int lo = c.listener, hi = c.server;
    int keep = dup(c.client); /* outside the range, the client's socket */
    SETUP(keep == hi + 1);
    for (int fd = lo; fd <= hi; fd++)
        CHECK_EQ(set_prio(fd, fd - lo + 1), 0);

    /* CLOSE_RANGE_CLOEXEC closes nothing: the SAN sockets still answer. */
    CHECK_EQ(close_range(lo, hi, CLOSE_RANGE_CLOEXEC), 0);
    for (int fd = lo; fd <= hi; fd++) {
        CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
        CHECK_EQ(prio(fd), fd - lo + 1);
        CHECK_EQ(set_prio(fd, -1), EINVAL);
    }

    CHECK_EQ(close_range(lo, hi, 0), 0);
    CHECK_EQ(fcntl(lo, F_GETFD), -1);
    CHECK_EQ(prio(keep), 2);
    CHECK_EQ(set_prio(keep, 5), 0);
    CHECK_EQ(prio(keep), 5);

    numbers_reused(lo);
    close(keep);
}

/* Last: closes every descriptor from the connection's first one up. */
static void from(void)
{
    struct conn c = consecutive_conn();
    int lo = c.listener;
    for (int fd = lo; fd < lo + 3; fd++)
        CHECK_EQ(set_prio(fd, 7), 0);
    closefrom(lo);
    CHECK_EQ(fcntl(lo, F_GETFD), -1);
    numbers_reused(lo);
}

/* Copies of a candidate are one socket too. Values set through
 * either number are the socket's; once it connects through one number it is one
 * SAN socket (one endpoint, SPEC §5) whichever number names it. */
static void candidate_copies(void)
{
    struct sockaddr_in addr;
    int l = listener_on("127.0.0.1", &addr);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(c >= 0);
    CHECK_EQ(set_prio(c, 3), 0);
    int d = dup(c);
    SETUP(d >= 0);
    CHECK_EQ(prio(d), 3);
    CHECK_EQ(set_prio(d, 4), 0);
    CHECK_EQ(prio(c), 4);

    connect_to(d, &addr);
    int s = accept_one(l);
    CHECK_EQ(prio(d), 4);
    CHECK_EQ(prio(c), 4);
    CHECK_EQ(set_prio(d, 5), 0);
    CHECK_EQ(prio(c), 5);
    CHECK_EQ(set_prio(c, 6), 0);
    CHECK_EQ(prio(d), 6);
    CHECK_EQ(wsp_value_of(c, WSD_SOL_SOCKET, SO_GROUP_PRIORITY), 6);
    CHECK_EQ(wsp_value_of(d, WSD_SOL_SOCKET, SO_GROUP_PRIORITY), 6);
    close(s);
    close(c);
    close(d);
    close(l);
}

int main(int argc, char **argv)
{
    if (arg_is(argc, argv, "candidates")) {
        candidate_copies();
    } else {
        copies();
        ranges();
        from();
    }
    harness_done();
}
