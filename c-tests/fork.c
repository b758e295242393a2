/*
 * fork.c — SAN sockets shared by a parent and its child (SPEC §5: option values
 * live in the segment, so every process sees the same values; an endpoint lives
 * while any process holds it, from the fork on). Pipes order the two processes;
 * nothing sleeps.
 */
#include "harness.h"

#include <sys/wait.h>

static int prio(int fd)
{
    return value_of(fd, SOL_SOCKET, SO_GROUP_PRIORITY);
}

static int set_prio(int fd, int value)
{
    return set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, value);
}

/* One byte over a pipe: the other process may go on. */
static void signal_to(int fd)
{
    SETUP(write(fd, "x", 1) == 1);
}

static void wait_for(int fd)
{
    char b;
    SETUP(read(fd, &b, 1) == 1);
}

static pid_t fork_checked(void)
{
    fflush(NULL);
    pid_t pid = fork();
    SETUP(pid >= 0);
    if (pid == 0) { /* the child counts its own checks */
        harness_checks = harness_failures = 0;
        harness_who = "child: ";
    }
    return pid;
}

/* The child's exit status, which is its harness verdict. */
static int reap(pid_t pid)
{
    int status;
    SETUP(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The child sets, the parent sees; the child closes its copy and exits, the
 * parent's socket (and its peer) go on working. */
static void child_sets_and_leaves(struct conn c)
{
    int to_child[2], to_parent[2];
    SETUP(pipe(to_child) == 0 && pipe(to_parent) == 0);
    CHECK_EQ(set_prio(c.client, 3), 0);
    CHECK_EQ(set_int(c.server, SOL_SOCKET, SO_DEBUG, 1), 0);

    pid_t pid = fork_checked();
    if (pid == 0) {
        CHECK_EQ(prio(c.client), 3);
        CHECK_EQ(value_of(c.server, SOL_SOCKET, SO_DEBUG), 1);
        CHECK_EQ(set_prio(c.client, 6), 0);
        CHECK_EQ(set_prio(c.client, -1), EINVAL);
        CHECK_EQ(set_int(c.server, SOL_SOCKET, SO_DEBUG, 0), 0);
        signal_to(to_parent[1]);
        wait_for(to_child[0]); /* the parent has looked */
        CHECK_EQ(prio(c.client), 9);
        CHECK_EQ(close(c.client), 0);
        harness_done();
    }
    wait_for(to_parent[0]);
    CHECK_EQ(prio(c.client), 6);
    CHECK_EQ(value_of(c.server, SOL_SOCKET, SO_DEBUG), 0);
    CHECK_EQ(set_prio(c.client, 9), 0);
    signal_to(to_child[1]);
    CHECK_EQ(reap(pid), 0);

    /* The child is gone and closed its copy: the parent's socket is intact and
     * its connection was not reset. */
    CHECK_EQ(prio(c.client), 9);
    CHECK_EQ(set_prio(c.client, 10), 0);
    CHECK_EQ(prio(c.client), 10);
    CHECK_EQ(set_prio(c.server, 11), 0);
    CHECK_EQ(prio(c.server), 11);
    CHECK_EQ(write(c.client, "y", 1), 1);
    char b;
    CHECK_EQ(read(c.server, &b, 1), 1);
    close(to_child[0]);
    close(to_child[1]);
    close(to_parent[0]);
    close(to_parent[1]);
}

/* The parent closes its copy; the child's goes on working. */
static void parent_leaves_first(struct conn c)
{
    int to_child[2];
    SETUP(pipe(to_child) == 0);
    CHECK_EQ(set_prio(c.client, 20), 0);

    pid_t pid = fork_checked();
    if (pid == 0) {
        wait_for(to_child[0]); /* the parent has closed its copy */
        CHECK_EQ(prio(c.client), 20);
        CHECK_EQ(set_prio(c.client, 21), 0);
        CHECK_EQ(prio(c.client), 21);
        CHECK_EQ(set_prio(c.client, -1), EINVAL);
        CHECK_EQ(set_prio(c.server, 22), 0);
        harness_done();
    }
    CHECK_EQ(close(c.client), 0);
    signal_to(to_child[1]);
    CHECK_EQ(reap(pid), 0);
    /* The server end is still the parent's, and saw the child's set. */
    CHECK_EQ(prio(c.server), 22);
    close(to_child[0]);
    close(to_child[1]);
}

/* A child that exits holding the socket, without closing it: the parent's copy
 * and the connection go on. */
static void child_dies_holding(void)
{
    struct conn c = loopback_conn();
    pid_t pid = fork_checked();
    if (pid == 0) {
        CHECK_EQ(set_prio(c.client, 40), 0);
        harness_done(); /* exit() closes the descriptors, no close() call */
    }
    CHECK_EQ(reap(pid), 0);
    struct conn other = loopback_conn(); /* new endpoints: a chance to reclaim */
    CHECK_EQ(prio(c.client), 40);
    CHECK_EQ(set_prio(c.client, 41), 0);
    CHECK_EQ(prio(c.client), 41);
    CHECK_EQ(set_prio(c.server, 42), 0);
    CHECK_EQ(prio(c.server), 42);
    close_conn(other);
    close_conn(c);
}

/* A child makes SAN sockets of its own. */
static void socket_made_in_child(void)
{
    pid_t pid = fork_checked();
    if (pid == 0) {
        struct conn c = loopback_conn();
        CHECK_EQ(set_prio(c.client, 30), 0);
        CHECK_EQ(prio(c.client), 30);
        close_conn(c);
        harness_done();
    }
    CHECK_EQ(reap(pid), 0);
}

int main(void)
{
    struct conn c = loopback_conn();
    child_sets_and_leaves(c);
    parent_leaves_first(c);
    child_dies_holding();
    socket_made_in_child();
    close(c.server);
    close(c.listener);
    harness_done();
}
