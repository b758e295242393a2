/*
 * life_dlopen.c — a dlopen()ed library is interposed too (run by
 * tests/process_life.rs): life_plugin.so, not linked with libwsd, is opened
 * twice (RTLD_NOW|RTLD_LOCAL, RTLD_LAZY|RTLD_GLOBAL); the options it sets and
 * reads, and the connection it makes itself, are the SAN's as the program's own
 * are.
 *
 * argv[1] is the plugin's path. A watchdog ends a hang with status 124.
 */
#include "process.h"

#include <dlfcn.h>

typedef int (*plugin_set_fn)(int fd, int value);
typedef int (*plugin_get_fn)(int fd);
typedef int (*plugin_conn_fn)(int fds[3], int remembered);

static void *plugin_sym(void *h, const char *name)
{
    void *p = dlsym(h, name);
    if (!p)
        fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
    SETUP(p != NULL);
    return p;
}

static void dlopened_library(const char *path)
{
    typedef int (*setsockopt_fn)(int, int, int, const void *, socklen_t);
    setsockopt_fn found = (setsockopt_fn)dlsym(RTLD_DEFAULT, "setsockopt");
    CHECK(found == &setsockopt);
    int flags[] = { RTLD_NOW | RTLD_LOCAL, RTLD_LAZY | RTLD_GLOBAL };
    for (int round = 0; round < 2; round++) {
        void *h = dlopen(path, flags[round]);
        if (!h)
            fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        SETUP(h != NULL);
        plugin_set_fn pset = (plugin_set_fn)plugin_sym(h, "life_plugin_set_priority");
        plugin_get_fn pget = (plugin_get_fn)plugin_sym(h, "life_plugin_priority");
        plugin_conn_fn pconn = (plugin_conn_fn)plugin_sym(h, "life_plugin_connect");
        int base = 100 * (round + 1);

        struct conn c = loopback_conn();
        CHECK_EQ(pset(c.client, base + 1), 0);
        CHECK_EQ(prio(c.client), base + 1);
        CHECK_EQ(wsp_value_of(c.client, WSOL, PRIO), base + 1);
        CHECK_EQ(set_prio(c.server, base + 2), 0);
        CHECK_EQ(pget(c.server), base + 2);
        CHECK_EQ(pset(c.client, -1), EINVAL);
        CHECK_EQ(pget(c.client), base + 1);
        CHECK_EQ(found(c.client, SOL_SOCKET, PRIO, &(int){ base + 3 }, 4), 0);
        CHECK_EQ(pget(c.client), base + 3);
        close_conn(c);

        /* Sockets the library makes itself, one remembering a value before its
         * connect: SAN sockets, the value replayed. */
        int fds[3];
        CHECK_EQ(pconn(fds, base + 4), 0);
        CHECK_EQ(prio(fds[0]), base + 4);
        CHECK_EQ(wsp_value_of(fds[0], WSOL, PRIO), base + 4);
        CHECK_EQ(prio(fds[1]), 0);
        CHECK_EQ(set_prio(fds[1], base + 5), 0);
        CHECK_EQ(pget(fds[1]), base + 5);
        for (int i = 0; i < 3; i++)
            close(fds[i]);
        SETUP(dlclose(h) == 0);
    }
    fresh_san_conn_works(300);
}

int main(int argc, char **argv)
{
    SETUP(argc > 1);
    watchdog(90);
    dlopened_library(argv[1]);
    harness_done();
}
