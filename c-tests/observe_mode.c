/*
 * observe_mode.c — WSD_MODE=observe (SPEC §4.3): nothing is answered by the switch
 * or the provider; every call, on SAN sockets and candidates alike, reaches the
 * kernel and gets the kernel's answer.
 */
#include "harness.h"

#define WSOL WSD_SOL_SOCKET

/* The kernel's answer to SO_DEBUG=1 on a TCP socket (0 for root, else EACCES). */
static int kernel_debug_answer;

static void everything_to_the_kernel(int fd)
{
    int v = 7;
    /* Linux has no group options: the kernel's ENOPROTOOPT, whatever the value. */
    CHECK_EQ(kernel_set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, 7), ENOPROTOOPT);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, 7), ENOPROTOOPT);
    CHECK_EQ(set_int(fd, WSOL, SO_GROUP_PRIORITY, 7), ENOPROTOOPT);
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, -1), ENOPROTOOPT);
    CHECK_EQ(get_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v), ENOPROTOOPT);
    CHECK_EQ(get_int(fd, WSOL, SO_GROUP_PRIORITY, &v), kernel_get_int(fd, WSOL, SO_GROUP_PRIORITY));
    CHECK_EQ(get_int(fd, WSOL, SO_GROUP_PRIORITY, &v), EOPNOTSUPP); /* what Linux says */
    CHECK_EQ(get_int(fd, SOL_SOCKET, SO_GROUP_ID, &v), ENOPROTOOPT);
    /* A short optlen is judged by the kernel (EINVAL), not the provider (EFAULT). */
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v, 3),
             kernel_set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v, 3));
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v, 3), EINVAL);

    /* SO_DEBUG is the kernel's own flag here. */
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_DEBUG, 1), kernel_debug_answer);
    if (kernel_debug_answer == 0) {
        CHECK_EQ(kernel_value_of(fd, SOL_SOCKET, SO_DEBUG), 1);
        CHECK_EQ(value_of(fd, SOL_SOCKET, SO_DEBUG), 1);
        CHECK_EQ(set_int(fd, SOL_SOCKET, SO_DEBUG, 0), 0);
        CHECK_EQ(kernel_value_of(fd, SOL_SOCKET, SO_DEBUG), 0);
    }
    CHECK_EQ(set_int(fd, WSOL, WSD_SO_DEBUG, 1), ENOPROTOOPT); /* no level 0xffff in Linux */
    CHECK_EQ(get_int(fd, WSOL, WSD_SO_DEBUG, &v), EOPNOTSUPP);

    CHECK_EQ(set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    CHECK_EQ(kernel_value_of(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    CHECK_EQ(value_of(fd, IPPROTO_TCP, TCP_NODELAY), 1);
    CHECK_EQ(set_int(fd, 0x1234, 1, 1), ENOPROTOOPT);
}

int main(void)
{
    int probe = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(probe >= 0);
    kernel_debug_answer = kernel_set_int(probe, SOL_SOCKET, SO_DEBUG, 1);
    CHECK(kernel_debug_answer == 0 || kernel_debug_answer == EACCES);
    close(probe);

    int candidate = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(candidate >= 0);
    everything_to_the_kernel(candidate);

    struct conn c = loopback_conn();
    each_socket_of(c, everything_to_the_kernel);

    /* A candidate that remembered nothing, connected to a SAN address. */
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    SETUP(getsockname(c.listener, (struct sockaddr *)&addr, &len) == 0);
    connect_to(candidate, &addr);
    int s = accept_one(c.listener);
    everything_to_the_kernel(candidate);
    everything_to_the_kernel(s);

    close(s);
    close(candidate);
    close_conn(c);
    harness_done();
}
