/*
 * life_spawn.c — children made by vfork + exec and by posix_spawn (run by
 * tests/process_life.rs): the parent's SAN sockets and the values it set keep
 * working however many children it starts, whatever those children close or
 * copy first, and whether their exec succeeds or fails; a child that is this
 * program again gets a socket it was not told about as a plain socket, and makes
 * SAN sockets of its own.
 *
 * argv[1] is the case: `vfork`, `spawn`, or `spawned FD` (the child `spawn`
 * starts). A watchdog ends a hang with status 124.
 */
#include "process.h"

#include <spawn.h>
#include <sys/resource.h>

extern char **environ;

/* vfork; the child closes and copies descriptors, then execs `path`. The child's
 * descriptors are its own (its table is a copy), but the library state it sees is
 * its parent's, which must stay as it is. */
__attribute__((noinline)) static pid_t vfork_exec_child(const char *path, int server,
                                                        int listener, int d)
{
    pid_t pid = vfork();
    if (pid == 0) {
        close(server);
        dup2(listener, 200);
        close(d);
        execl(path, "true", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void vfork_exec(void)
{
    struct conn c = loopback_conn();
    int d = dup(c.client);
    SETUP(d >= 0);
    CHECK_EQ(set_prio(c.client, 11), 0);
    CHECK_EQ(set_prio(c.server, 12), 0);
    CHECK_EQ(set_prio(c.listener, 13), 0);
    for (int round = 0; round < 20; round++) {
        int bad_path = round % 5 == 4;
        const char *path = bad_path ? "/nonexistent/life-true" : "/bin/true";
        pid_t pid = vfork_exec_child(path, c.server, c.listener, d);
        SETUP(pid > 0);
        CHECK_EQ(reap(pid), bad_path ? 127 : 0);
        CHECK(!is_open(200));
        CHECK_EQ(prio(c.client), 11 + round);
        CHECK_EQ(prio(d), 11 + round);
        CHECK_EQ(set_prio(c.client, 12 + round), 0);
        CHECK_EQ(prio(d), 12 + round);
        CHECK_EQ(prio(c.server), 12);
        CHECK_EQ(wsp_value_of(c.server, WSOL, PRIO), 12);
        CHECK_EQ(prio(c.listener), 13);
    }
    /* A vfork that fails answers -1 and errno, as libc's does (the library has
       its own vfork): tried by an ordinary user allowed no more processes. */
    pid_t p = fork();
    SETUP(p >= 0);
    if (p == 0) {
        struct rlimit none = {0, 0};
        if (getuid() == 0 && setuid(65534) != 0)
            _exit(3);
        if (setrlimit(RLIMIT_NPROC, &none) != 0)
            _exit(4);
        errno = 0;
        pid_t v = vfork();
        if (v == 0)
            _exit(0);
        _exit(v == -1 && errno == EAGAIN ? 0 : 5);
    }
    CHECK_EQ(reap(p), 0);
    /* Number 200 in the parent has no state from the child's dup2. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    SETUP(u >= 0);
    CHECK_EQ(dup2(u, 200), 200);
    CHECK_EQ(set_prio(200, 1), ENOPROTOOPT);
    close(200);
    close(u);
    CHECK_EQ(set_prio(c.server, 14), 0);
    CHECK_EQ(prio(c.server), 14);
    data_flows(c);
    close(d);
    close_conn(c);
    fresh_san_conn_works(15);
}

static pid_t spawn(const char *path, char *const argv[], posix_spawn_file_actions_t *fa, int p)
{
    pid_t pid = -1;
    int r = p ? posix_spawnp(&pid, path, fa, NULL, argv, environ)
              : posix_spawn(&pid, path, fa, NULL, argv, environ);
    CHECK_EQ(r, 0);
    return r == 0 ? pid : -1;
}

static void posix_spawn_children(void)
{
    struct conn c = loopback_conn();
    CHECK_EQ(set_prio(c.client, 21), 0);
    CHECK_EQ(set_prio(c.server, 22), 0);
    int cand = socket(AF_INET, SOCK_STREAM, 0); /* a candidate remembering a value */
    SETUP(cand >= 0);
    CHECK_EQ(set_prio(cand, 23), 0);

    posix_spawn_file_actions_t fa;
    SETUP(posix_spawn_file_actions_init(&fa) == 0);
    SETUP(posix_spawn_file_actions_addclose(&fa, c.server) == 0);
    SETUP(posix_spawn_file_actions_adddup2(&fa, c.client, 60) == 0);
    SETUP(posix_spawn_file_actions_addclose(&fa, cand) == 0);

    char *true_argv[] = { "true", NULL };
    for (int round = 0; round < 10; round++) {
        pid_t pid = spawn(round % 2 ? "true" : "/bin/true", true_argv, &fa, round % 2);
        if (pid > 0)
            CHECK_EQ(reap(pid), 0);
        CHECK_EQ(prio(c.client), 21 + round);
        CHECK_EQ(set_prio(c.client, 22 + round), 0);
        CHECK_EQ(prio(c.server), 22);
        CHECK_EQ(wsp_value_of(c.server, WSOL, PRIO), 22);
        CHECK_EQ(prio(cand), 23);
        CHECK(!is_open(60));
    }

    /* This program again: it gets the client socket (not named in WSD_FDS, so a
     * plain socket there) and makes SAN sockets of its own. */
    char fdtext[16];
    snprintf(fdtext, sizeof fdtext, "%d", c.client);
    char *self_argv[] = { (char *)self_exe(), "spawned", fdtext, NULL };
    pid_t pid = spawn(self_exe(), self_argv, NULL, 0);
    if (pid > 0)
        CHECK_EQ(reap(pid), 0);
    CHECK_EQ(prio(c.client), 31);
    CHECK_EQ(prio(c.server), 22);
    candidate_connects_with(cand, 23);
    data_flows(c);
    posix_spawn_file_actions_destroy(&fa);
    close_conn(c);
}

static void spawned(const char *fdtext)
{
    int inherited = atoi(fdtext);
    CHECK(is_open(inherited));
    /* Not named in WSD_FDS: plain TCP in this image (SPEC §4.1). */
    CHECK_EQ(set_prio(inherited, 5), ENOPROTOOPT);
    CHECK_EQ(set_int(inherited, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    fresh_san_conn_works(40);
}

int main(int argc, char **argv)
{
    SETUP(argc > 1);
    self_exe();
    watchdog(90);
    if (arg_is(argc, argv, "vfork"))
        vfork_exec();
    else if (arg_is(argc, argv, "spawn"))
        posix_spawn_children();
    else if (arg_is(argc, argv, "spawned") && argc > 2)
        spawned(argv[2]);
    else {
        fprintf(stderr, "life_spawn: unknown case %s\n", argv[1]);
        return 2;
    }
    harness_done();
}
