/*
 * life_next.c — a shared library preloaded after libwsd.so (by tests/life.rs),
 * defining getsockopt itself: libwsd.so's real functions are the next
 * definitions after its own, so a call the library passes on must reach this
 * one, not libc's. It answers level LIFE_NEXT_LEVEL itself (the value 4242) and
 * passes everything else on to the definition after it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>

#define LIFE_NEXT_LEVEL 0x7777

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    if (level == LIFE_NEXT_LEVEL && len && *len >= sizeof(int)) {
        int v = 4242;
        memcpy(val, &v, sizeof v);
        *len = sizeof v;
        return 0;
    }
    int (*next)(int, int, int, void *, socklen_t *) =
        (int (*)(int, int, int, void *, socklen_t *))dlsym(RTLD_NEXT, "getsockopt");
    return next(fd, level, name, val, len);
}
