/*
 * segment_trust.c — segments the library must refuse or survive (run by
 * tests/segment_trust.rs). The test plants the segment before the run:
 *
 *   refused          the segment cannot be used (loose permissions, another
 *                    owner, another kind of file, a bad header): SAN calls answer
 *                    WSAENETDOWN, sockets stay plain TCP, and everything else
 *                    works;
 *   drop-to-nobody LOG  as root, on a segment root made: a child drops to nobody
 *                    and executes this program as-nobody (logging to LOG), which
 *                    cannot even open the file; root still uses it;
 *   as-nobody        that child;
 *   hostile any|refused  a header with hostile values: refused as above, or
 *                    (any) whatever the library makes of it, every answer is an
 *                    allowed one, consistent, and nothing crashes.
 *
 * A watchdog ends a hang with status 124.
 */
#include "process.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>

/* The segment cannot be used: SAN calls answer WSAENETDOWN, connected sockets are
 * plain TCP (the kernel answers the group option), values remembered before the
 * connect are kept, and every other option works. */
static void san_refused(void)
{
    struct sockaddr_in addr;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(l >= 0);
    CHECK_EQ(set_prio(l, 3), 0); /* a candidate: the switch remembers */
    bind_to(l, "127.0.0.1", &addr);
    SETUP(listen(l, 4) == 0);
    int remembering = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(remembering >= 0);
    CHECK_EQ(set_prio(remembering, 4), 0);
    connect_to(remembering, &addr);
    int a1 = accept_one(l);
    int plain = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(plain >= 0);
    connect_to(plain, &addr);
    int a2 = accept_one(l);

    CHECK_EQ(set_prio(plain, 5), ENOPROTOOPT);
    int v;
    CHECK_EQ(get_int(plain, SOL_SOCKET, PRIO, &v), ENOPROTOOPT);
    CHECK_EQ(set_prio(a2, 5), ENOPROTOOPT);
    CHECK_EQ(prio(remembering), 4);
    CHECK_EQ(prio(l), 3);
    CHECK_EQ(set_int(plain, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    CHECK_EQ(kernel_value_of(plain, IPPROTO_TCP, TCP_NODELAY), 1);
    int fds[] = { plain, a2, remembering, a1 };
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(wsp_set(fds[i], WSOL, PRIO, 6), WSAENETDOWN);
        int got = 0, len = 4;
        CHECK_EQ(wsp_get_raw(fds[i], WSOL, PRIO, &got, &len), WSAENETDOWN);
    }
    struct conn c = { l, plain, a2 };
    data_flows(c);
    close(remembering);
    close(a1);
    close_conn(c);
}

/* Run as nobody on a segment made by root: the file cannot even be opened. */
static void as_nobody(void)
{
    CHECK(geteuid() != 0);
    const char *san = getenv("WSD_SAN");
    SETUP(san != NULL);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/dev/shm/wsd.%s", san);
    struct stat st;
    CHECK_EQ(stat(path, &st), 0);
    CHECK_EQ(st.st_uid, 0);
    CHECK_EQ(open(path, O_RDWR), -1);
    CHECK_EQ(errno, EACCES);
    CHECK_EQ(open(path, O_RDONLY), -1);
    CHECK_EQ(errno, EACCES);
    san_refused();
}

/* As root: a child drops to nobody and execs this program as-nobody, logging to
 * argv[2]. */
static void drop_to_nobody(const char *log)
{
    SETUP(geteuid() == 0);
    struct passwd *pw = getpwnam("nobody");
    uid_t uid = pw ? pw->pw_uid : 65534;
    gid_t gid = pw ? pw->pw_gid : 65534;
    pid_t pid = fork_checked();
    if (pid == 0) {
        SETUP(setgroups(0, NULL) == 0);
        SETUP(setgid(gid) == 0);
        SETUP(setuid(uid) == 0);
        SETUP(setenv("WSD_LOG_FILE", log, 1) == 0);
        SETUP(chdir("/") == 0);
        execl(self_exe(), self_exe(), "as-nobody", (char *)NULL);
        say("segment_trust: exec as nobody failed\n");
        _exit(126);
    }
    CHECK_EQ(reap(pid), 0);
    /* The root parent itself uses the segment. */
    fresh_san_conn_works(70);
}

/* ---- a hostile segment ------------------------------------------------------ */

/* The segment's header holds hostile values: whatever the library makes of it,
 * every answer is one of the allowed ones and consistent, and nothing crashes. */
static void hostile_round(int value, int keep_open)
{
    struct conn c = loopback_conn();
    int fds[] = { c.client, c.server, c.listener };
    for (int i = 0; i < 3; i++) {
        int r = set_prio(fds[i], value + i);
        CHECK(r == 0 || r == ENOPROTOOPT || r == ENETDOWN);
        int v = -1;
        int g = get_int(fds[i], SOL_SOCKET, PRIO, &v);
        if (r == 0) {
            CHECK_EQ(g, 0);
            CHECK_EQ(v, value + i);
        } else if (r == ENOPROTOOPT) {
            CHECK_EQ(g, ENOPROTOOPT);
        }
        int n = set_int(fds[i], IPPROTO_TCP, TCP_NODELAY, 1);
        CHECK(n == 0 || n == ENETDOWN);
        int code = wsp_set(fds[i], WSOL, PRIO, value + 10 + i);
        CHECK(code == 0 || code == WSAENETDOWN);
        if (code == 0)
            CHECK_EQ(wsp_value_of(fds[i], WSOL, PRIO), value + 10 + i);
    }
    data_flows(c);
    if (!keep_open)
        close_conn(c);
}

static void hostile(int refused)
{
    if (refused) {
        san_refused();
        return;
    }
    for (int i = 0; i < 12; i++)
        hostile_round(100 * i, i % 2);
    pid_t pid = fork_checked();
    if (pid == 0) {
        hostile_round(5000, 0);
        harness_done();
    }
    CHECK_EQ(reap(pid), 0);
    hostile_round(6000, 0);
}

int main(int argc, char **argv)
{
    SETUP(argc > 1);
    self_exe();
    watchdog(90);
    if (arg_is(argc, argv, "refused"))
        san_refused();
    else if (arg_is(argc, argv, "as-nobody"))
        as_nobody();
    else if (arg_is(argc, argv, "drop-to-nobody") && argc > 2)
        drop_to_nobody(argv[2]);
    else if (arg_is(argc, argv, "hostile") && argc > 2)
        hostile(strcmp(argv[2], "refused") == 0);
    else {
        fprintf(stderr, "segment_trust: unknown case %s\n", argv[1]);
        return 2;
    }
    harness_done();
}
