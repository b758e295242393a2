/*
 * life_plugin.c — a shared library that life_dlopen.c dlopen()s (built by
 * tests/process_life.rs with -shared -fPIC, not linked with libwsd): its socket
 * calls reach the interposed functions like the main program's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SO_GROUP_PRIORITY 0x2002

/* setsockopt(SO_GROUP_PRIORITY): 0 or errno. */
int life_plugin_set_priority(int fd, int value)
{
    return setsockopt(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &value, sizeof value) == 0 ? 0 : errno;
}

/* getsockopt(SO_GROUP_PRIORITY): the value, or -777. */
int life_plugin_priority(int fd)
{
    int v = -777;
    socklen_t len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v, &len) != 0 || len != sizeof v)
        return -777;
    return v;
}

/* A loopback connection made here: fds = client, accepted end, listener. The
 * client sets `remembered` before its connect. 0, or the errno of the step that
 * failed. */
int life_plugin_connect(int fds[3], int remembered)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(l, 4) != 0 ||
        getsockname(l, (struct sockaddr *)&addr, &len) != 0)
        return errno;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0)
        return errno;
    int r = life_plugin_set_priority(c, remembered);
    if (r != 0)
        return r;
    if (connect(c, (struct sockaddr *)&addr, sizeof addr) != 0)
        return errno;
    int s = accept(l, NULL, NULL);
    if (s < 0)
        return errno;
    fds[0] = c;
    fds[1] = s;
    fds[2] = l;
    return 0;
}
