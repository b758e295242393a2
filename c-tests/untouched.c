/*
 * untouched.c — descriptors that can never reach the SAN (SPEC §4.3): UDP, Unix
 * stream sockets, a pipe, and (WSD_SUBNETS="", nothing is a candidate) TCP, both
 * unconnected and on a loopback connection. Their calls must get exactly what the
 * kernel says, in every detail. The same binary runs twice:
 *
 *   with     under LD_PRELOAD=libwsd.so, WSD_SUBNETS=""
 *   without  without the library: the kernel baseline these expectations come from
 *
 * It is not linked with libwsd, so the "without" run really is the bare kernel.
 */
#define HARNESS_NO_WSP
#include "harness.h"

#include <dlfcn.h>

#define WSOL 0xffff
#define SO_GROUP_ID_ 0x2001
#define SO_GROUP_PRIORITY_ 0x2002

/* The checks for any socket: the group options are unknown to Linux, and every
 * answer equals the one the raw system call gives. */
static void kernel_answers(int fd, int unknown)
{
    int v = 1;
    /* What the program sees is what the kernel says... */
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, 7), kernel_set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, 7));
    CHECK_EQ(set_int(fd, WSOL, SO_GROUP_PRIORITY_, 7), kernel_set_int(fd, WSOL, SO_GROUP_PRIORITY_, 7));
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, &v, 3), kernel_set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, &v, 3));
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, NULL, 4), kernel_set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, NULL, 4));
    CHECK_EQ(get_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, &v), kernel_get_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY_));
    CHECK_EQ(get_int(fd, WSOL, SO_GROUP_ID_, &v), kernel_get_int(fd, WSOL, SO_GROUP_ID_));
    /* ...and that is: */
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, 7), unknown);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, -1), unknown);
    CHECK_EQ(get_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, &v), unknown);
    CHECK_EQ(get_int(fd, SOL_SOCKET, SO_GROUP_ID_, &v), unknown);
}

static void socket_answers(int fd)
{
    int v = 1;
    kernel_answers(fd, ENOPROTOOPT);
    /* Linux checks the length before it looks at the option. */
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, &v, 3), EINVAL);
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY_, NULL, 4), EFAULT);
    /* SO_DEBUG is the kernel's flag (root may set it). */
    int want = kernel_set_int(fd, SOL_SOCKET, SO_DEBUG, 1);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_DEBUG, 2), want);
    if (want == 0) {
        CHECK_EQ(value_of(fd, SOL_SOCKET, SO_DEBUG), 1);
        CHECK_EQ(set_int(fd, SOL_SOCKET, SO_DEBUG, 0), 0);
        CHECK_EQ(kernel_value_of(fd, SOL_SOCKET, SO_DEBUG), 0);
        CHECK_EQ(set_int(fd, SOL_SOCKET, SO_DEBUG, 1), 0);
        CHECK_EQ(kernel_value_of(fd, SOL_SOCKET, SO_DEBUG), 1);
    }
    CHECK_EQ(set_int(fd, WSOL, 1, 1), kernel_set_int(fd, WSOL, 1, 1));
}

static void tcp_answers(int fd)
{
    socket_answers(fd);
    CHECK_EQ(set_int(fd, WSOL, SO_GROUP_PRIORITY_, 7), ENOPROTOOPT);
    CHECK_EQ(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    CHECK_EQ(kernel_value_of(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    CHECK_EQ(value_of(fd, IPPROTO_TCP, TCP_NODELAY), 1);
}

int main(int argc, char **argv)
{
    int with = arg_is(argc, argv, "with");
    SETUP(with || arg_is(argc, argv, "without"));
    /* The run really is with (or without) the library. */
    CHECK_EQ(dlsym(RTLD_DEFAULT, "WSPSetSockOpt") != NULL, with);

    int u = socket(AF_INET, SOCK_DGRAM, 0);
    SETUP(u >= 0);
    socket_answers(u);
    CHECK_EQ(set_int(u, WSOL, SO_GROUP_PRIORITY_, 7), ENOPROTOOPT);

    int x[2];
    SETUP(socketpair(AF_UNIX, SOCK_STREAM, 0, x) == 0);
    socket_answers(x[0]);
    int ux = socket(AF_UNIX, SOCK_STREAM, 0);
    SETUP(ux >= 0);
    socket_answers(ux);

    int p[2];
    SETUP(pipe(p) == 0);
    kernel_answers(p[0], ENOTSOCK);
    kernel_answers(p[1], ENOTSOCK);
    int v = 1;
    CHECK_EQ(set_int(p[0], SOL_SOCKET, SO_DEBUG, 1), ENOTSOCK);
    CHECK_EQ(set_raw(p[0], SOL_SOCKET, SO_GROUP_PRIORITY_, NULL, 4), ENOTSOCK);
    CHECK_EQ(set_raw(p[0], SOL_SOCKET, SO_GROUP_PRIORITY_, &v, 3), ENOTSOCK);
    int closed = dup(p[0]);
    SETUP(closed >= 0);
    close(closed);
    kernel_answers(closed, EBADF);

    int t = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(t >= 0);
    tcp_answers(t);
    struct conn c = loopback_conn();
    each_socket_of(c, tcp_answers);

    close(t);
    close_conn(c);
    close(p[0]);
    close(p[1]);
    close(ux);
    close(x[0]);
    close(x[1]);
    close(u);
    harness_done();
}
