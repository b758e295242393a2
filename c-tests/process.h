/*
 * process.h — what the programs that follow SAN sockets through a process's life
 * (life_*.c) and through segments the library must refuse (segment_trust.c)
 * share, on top of harness.h: a watchdog, children forked and reaped, the path of
 * the program itself (to exec it again), and checks that a connection still
 * carries data, that a fresh one is a working SAN connection, and that a
 * candidate's value is replayed when it connects.
 *
 * Processes are ordered by waitpid() and pipes only; nothing sleeps.
 */
#ifndef PROCESS_H
#define PROCESS_H

#include "harness.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>

#define PRIO SO_GROUP_PRIORITY
#define WSOL WSD_SOL_SOCKET

/* This program, for executing itself again (read once, at the first call: make
 * it before anything closes descriptors or changes the root). */
static inline const char *self_exe(void)
{
    static char path[PATH_MAX];
    if (!path[0]) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        SETUP(n > 0);
        path[n] = 0;
    }
    return path;
}

static inline int prio(int fd)
{
    return value_of(fd, SOL_SOCKET, PRIO);
}

static inline int set_prio(int fd, int value)
{
    return set_int(fd, SOL_SOCKET, PRIO, value);
}

/* Standard error, from anywhere (a signal handler, a vfork child). */
static inline void say(const char *s)
{
    if (write(2, s, strlen(s)) < 0) { /* nothing more to do */
    }
}

static inline void watchdog_fired(int sig)
{
    (void)sig;
    say(program_invocation_short_name);
    say(": watchdog fired: the case hung\n");
    _exit(124);
}

/* alarm() watchdog (fork children arm their own: alarms are not inherited). A
 * hang ends the program with status 124. */
static inline void watchdog(unsigned seconds)
{
    signal(SIGALRM, watchdog_fired);
    alarm(seconds);
}

static inline pid_t fork_checked(void)
{
    fflush(NULL);
    pid_t pid = fork();
    SETUP(pid >= 0);
    if (pid == 0) {
        harness_checks = harness_failures = 0;
        harness_who = "child: ";
        watchdog(20);
    }
    return pid;
}

/* A child's exit status (128+N for a signal). */
static inline int reap(pid_t pid)
{
    int status;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    SETUP(r == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static inline int is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* One byte each way: the connection still carries data. */
static inline void data_flows(struct conn c)
{
    char b = 0;
    CHECK_EQ(write(c.client, "a", 1), 1);
    CHECK_EQ(read(c.server, &b, 1), 1);
    CHECK_EQ(b, 'a');
    CHECK_EQ(write(c.server, "b", 1), 1);
    CHECK_EQ(read(c.client, &b, 1), 1);
    CHECK_EQ(b, 'b');
}

/* A fresh connection whose sockets are SAN sockets with working options. */
static inline void fresh_san_conn_works(int value)
{
    struct conn n = loopback_conn();
    CHECK_EQ(prio(n.client), 0);
    CHECK_EQ(prio(n.server), 0);
    CHECK_EQ(set_prio(n.client, value), 0);
    CHECK_EQ(prio(n.client), value);
    CHECK_EQ(wsp_value_of(n.client, WSOL, PRIO), value);
    CHECK_EQ(wsp_set(n.server, WSOL, PRIO, value + 1), 0);
    CHECK_EQ(prio(n.server), value + 1);
    CHECK_EQ(set_prio(n.client, -1), EINVAL);
    CHECK_EQ(set_int(n.client, IPPROTO_TCP, TCP_NODELAY, 1), 0);
    data_flows(n);
    close_conn(n);
}

/* Candidate `cand`, whose option was set to `value` while it was a plain socket,
 * connects to a fresh listener: it becomes a SAN socket with the value replayed.
 * Closes it, the listener and the accepted end. */
static inline void candidate_connects_with(int cand, int value)
{
    struct sockaddr_in addr;
    int l = listener_on("127.0.0.1", &addr);
    connect_to(cand, &addr);
    int s = accept_one(l);
    CHECK_EQ(prio(cand), value); /* replayed when it became a SAN socket */
    CHECK_EQ(wsp_value_of(cand, WSOL, PRIO), value);
    close(s);
    close(l);
    close(cand);
}

#endif /* PROCESS_H */
