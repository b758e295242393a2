/*
 * life_close_all.c — children that close every descriptor (run by
 * tests/process_life.rs): a child closes all its descriptors above 2 — in a loop,
 * with close_range, closefrom, close_range's CLOEXEC flag and an exec, or a raw
 * system call behind the library's back — and then, in place or after executing
 * this program again, finds the old numbers closed and new sockets on the same
 * numbers starting afresh; the parent's sockets are left as they were.
 *
 * argv: HOW [exec], HOW one of loop, range, closefrom, range-cloexec, raw; or
 * `after-exec CLIENT SERVER` (the child, executed again). A watchdog ends a hang
 * with status 124.
 */
#include "process.h"

static int close_all(const char *how)
{
    if (strcmp(how, "loop") == 0) {
        long max = sysconf(_SC_OPEN_MAX);
        SETUP(max > 0);
        for (long fd = 3; fd < max; fd++)
            close((int)fd);
    } else if (strcmp(how, "range") == 0) {
        CHECK_EQ(close_range(3, ~0U, 0), 0);
    } else if (strcmp(how, "closefrom") == 0) {
        closefrom(3);
    } else if (strcmp(how, "range-cloexec") == 0) {
        /* Closed by the exec that follows, not by a call the library sees. */
        CHECK_EQ(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC), 0);
        return 0;
    } else if (strcmp(how, "raw") == 0) {
        /* Behind the library's back: stale state until the numbers are reused. */
        CHECK_EQ(syscall(SYS_close_range, 3, ~0U, 0), 0);
    } else {
        SETUP(!"a known way to close");
    }
    return 1;
}

/* In a process whose descriptors above 2 are all gone (closed, or by an exec):
 * the old numbers are closed, and new sockets — which get the same numbers — start
 * afresh and work. */
static void after_closing_everything(int old_client, int old_server, int seen)
{
    CHECK(!is_open(old_client));
    CHECK(!is_open(old_server));
    if (seen) {
        /* Closed through calls the library sees (a raw close leaves stale state
         * until the number is handed out again: README, "What this does not do"). */
        int code = 0;
        int v = 1;
        CHECK_EQ(WSPSetSockOpt(old_client, WSOL, PRIO, (const char *)&v, 4, &code),
                 SOCKET_ERROR);
        CHECK_EQ(code, WSAENOTSOCK);
    }
    struct conn n = loopback_conn();
    CHECK_EQ(n.listener, 3); /* the lowest numbers again: the old sockets' */
    CHECK_EQ(prio(n.client), 0);
    CHECK_EQ(prio(n.server), 0);
    CHECK_EQ(wsp_value_of(n.server, WSOL, PRIO), 0);
    CHECK_EQ(set_prio(n.client, 51), 0);
    CHECK_EQ(prio(n.client), 51);
    CHECK_EQ(set_prio(n.server, 52), 0);
    CHECK_EQ(wsp_value_of(n.server, WSOL, PRIO), 52);
    int cand = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(cand >= 0);
    CHECK_EQ(prio(cand), 0);
    CHECK_EQ(set_prio(cand, 53), 0);
    CHECK_EQ(prio(cand), 53);
    close(cand);
    data_flows(n);
    close_conn(n);
    fresh_san_conn_works(54);
}

/* argv: how [exec]. The parent's sockets are at the lowest numbers; a child
 * closes all of them its way, then (without exec) checks in place, or execs this
 * program ("after-exec") to check there. */
static void child_closes_everything(const char *how, int exec_after)
{
    struct conn c = loopback_conn();
    SETUP(c.listener == 3);
    int d = dup(c.client);
    SETUP(d >= 0);
    int cand = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(cand >= 0);
    CHECK_EQ(set_prio(c.client, 21), 0);
    CHECK_EQ(set_prio(c.server, 22), 0);
    CHECK_EQ(set_prio(cand, 23), 0);

    pid_t pid = fork_checked();
    if (pid == 0) {
        int closed_now = close_all(how);
        if (exec_after) {
            char a[16], b[16];
            snprintf(a, sizeof a, "%d", c.client);
            snprintf(b, sizeof b, "%d", c.server);
            fflush(NULL);
            execl(self_exe(), self_exe(), "after-exec", a, b, (char *)NULL);
            say("life_close_all: exec failed\n");
            _exit(126);
        }
        SETUP(closed_now);
        after_closing_everything(c.client, c.server, strcmp(how, "raw") != 0);
        harness_done();
    }
    CHECK_EQ(reap(pid), 0);

    /* The parent's sockets are as they were, and its connection was not reset. */
    CHECK_EQ(prio(c.client), 21);
    CHECK_EQ(prio(d), 21);
    CHECK_EQ(prio(c.server), 22);
    CHECK_EQ(set_prio(c.client, 24), 0);
    CHECK_EQ(prio(d), 24);
    CHECK_EQ(wsp_value_of(c.client, WSOL, PRIO), 24);
    CHECK_EQ(set_prio(c.server, 25), 0);
    CHECK_EQ(prio(c.server), 25);
    CHECK_EQ(prio(cand), 23);
    data_flows(c);
    candidate_connects_with(cand, 23);
    close(d);
    close_conn(c);
}

int main(int argc, char **argv)
{
    SETUP(argc > 1);
    self_exe();
    watchdog(90);
    if (arg_is(argc, argv, "after-exec") && argc > 3)
        after_closing_everything(atoi(argv[2]), atoi(argv[3]), 1);
    else
        child_closes_everything(argv[1], argc > 2 && strcmp(argv[2], "exec") == 0);
    harness_done();
}
