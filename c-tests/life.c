/*
 * life.c — SAN sockets through a process's life (run by tests/life.rs): fork while
 * other threads are inside the hooks, vfork + exec, posix_spawn, children that
 * close every descriptor (with or without an exec after), signal handlers that call
 * setsockopt while the interrupted thread is inside one, a dlopen()ed library that
 * sets options, threads started from constructors, and segments the library must
 * refuse or survive.
 *
 * argv[1] is the case; see main(). Every case arms a watchdog (alarm(), or a POSIX
 * timer where the case owns SIGALRM): a hang ends the program with status 124.
 * Processes are ordered by waitpid() and pipes only; nothing sleeps.
 */
#include "harness.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>

extern char **environ;

#define PRIO SO_GROUP_PRIORITY
#define WSOL WSD_SOL_SOCKET

static char self_exe[PATH_MAX]; /* this program, for re-executing itself */

static int prio(int fd)
{
    return value_of(fd, SOL_SOCKET, PRIO);
}

static int set_prio(int fd, int value)
{
    return set_int(fd, SOL_SOCKET, PRIO, value);
}

static void say(const char *s)
{
    if (write(2, s, strlen(s)) < 0) { /* nothing more to do */
    }
}

static void watchdog_fired(int sig)
{
    (void)sig;
    say("life: watchdog fired: the case hung\n");
    _exit(124);
}

/* alarm() watchdog (fork children arm their own: alarms are not inherited). */
static void watchdog(unsigned seconds)
{
    signal(SIGALRM, watchdog_fired);
    alarm(seconds);
}

static pid_t fork_checked(void)
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
static int reap(pid_t pid)
{
    int status;
    pid_t r;
    while ((r = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    SETUP(r == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int is_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* One byte each way: the connection still carries data. */
static void data_flows(struct conn c)
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
static void fresh_san_conn_works(int value)
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

/* ---- fork while threads are inside the hooks ----------------------------- */

#define WORKERS 4
#define FORKS 100

struct worker {
    pthread_t thread;
    int id;
    struct conn c;
    long rounds;
};

static int stop_workers;

static void *set_get_loop(void *arg)
{
    struct worker *w = arg;
    for (long i = 0; !__atomic_load_n(&stop_workers, __ATOMIC_ACQUIRE); i++) {
        int v = w->id * 1000000 + (int)(i % 500000) * 2;
        CHECK_EQ(set_prio(w->c.client, v), 0);
        CHECK_EQ(prio(w->c.client), v);
        CHECK_EQ(set_int(w->c.server, WSOL, PRIO, v + 1), 0);
        CHECK_EQ(value_of(w->c.server, WSOL, PRIO), v + 1);
        if (i % 64 == 0) {
            CHECK_EQ(set_prio(w->c.client, -1), EINVAL);
            CHECK_EQ(prio(w->c.client), v);
            CHECK_EQ(wsp_value_of(w->c.server, WSOL, PRIO), v + 1);
        }
        if (i % 16 == 0 && w->id % 2 == 0) /* endpoints come and go meanwhile */
            fresh_san_conn_works(w->id);
        __atomic_store_n(&w->rounds, i + 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

static void fork_while_threads_work(void)
{
    struct worker w[WORKERS];
    struct conn m = loopback_conn();
    CHECK_EQ(set_prio(m.client, 7), 0);
    CHECK_EQ(set_prio(m.server, 2000), 0);
    for (int i = 0; i < WORKERS; i++) {
        w[i].id = i + 1;
        w[i].c = loopback_conn();
        w[i].rounds = 0;
        SETUP(pthread_create(&w[i].thread, NULL, set_get_loop, &w[i]) == 0);
    }
    /* Every worker is looping before the first fork. */
    for (int i = 0; i < WORKERS; i++)
        while (__atomic_load_n(&w[i].rounds, __ATOMIC_ACQUIRE) == 0)
            sched_yield();

    int expected = 7;
    for (int k = 0; k < FORKS; k++) {
        pid_t pid = fork_checked();
        if (pid == 0) {
            /* Only this thread exists here; the others may have been inside a hook. */
            CHECK_EQ(prio(m.client), expected);
            CHECK_EQ(set_prio(m.client, 1000 + k), 0);
            CHECK_EQ(prio(m.client), 1000 + k);
            CHECK_EQ(wsp_value_of(m.server, WSOL, PRIO), 2000);
            CHECK_EQ(set_int(w[k % WORKERS].c.client, IPPROTO_TCP, TCP_NODELAY, 1), 0);
            int v = -1;
            CHECK_EQ(get_int(w[k % WORKERS].c.server, SOL_SOCKET, PRIO, &v), 0);
            /* New sockets, on numbers that may have held the parent's. */
            fresh_san_conn_works(3000 + k);
            harness_done();
        }
        CHECK_EQ(reap(pid), 0);
        expected = 1000 + k;
    }
    __atomic_store_n(&stop_workers, 1, __ATOMIC_RELEASE);
    long rounds = 0;
    for (int i = 0; i < WORKERS; i++) {
        SETUP(pthread_join(w[i].thread, NULL) == 0);
        rounds += w[i].rounds;
        close_conn(w[i].c);
    }
    CHECK_EQ(prio(m.client), expected);
    CHECK_EQ(set_prio(m.client, 8), 0);
    CHECK_EQ(prio(m.client), 8);
    CHECK_EQ(prio(m.server), 2000);
    data_flows(m);
    close_conn(m);
    printf("fork-threads: %d forks while %d threads made %ld set/get rounds\n", FORKS,
           WORKERS, rounds);
}

/* ---- vfork + exec, posix_spawn -------------------------------------------- */

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
    char *self_argv[] = { self_exe, "spawned", fdtext, NULL };
    pid_t pid = spawn(self_exe, self_argv, NULL, 0);
    if (pid > 0)
        CHECK_EQ(reap(pid), 0);
    CHECK_EQ(prio(c.client), 31);
    CHECK_EQ(prio(c.server), 22);
    struct sockaddr_in addr;
    int l = listener_on("127.0.0.1", &addr);
    connect_to(cand, &addr);
    int s = accept_one(l);
    CHECK_EQ(prio(cand), 23); /* replayed when it became a SAN socket */
    CHECK_EQ(wsp_value_of(cand, WSOL, PRIO), 23);
    close(s);
    close(l);
    close(cand);
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

/* ---- children that close every descriptor -------------------------------- */

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
            execl(self_exe, self_exe, "after-exec", a, b, (char *)NULL);
            say("life: exec failed\n");
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
    struct sockaddr_in addr;
    int l = listener_on("127.0.0.1", &addr);
    connect_to(cand, &addr);
    int s = accept_one(l);
    CHECK_EQ(prio(cand), 23);
    CHECK_EQ(wsp_value_of(cand, WSOL, PRIO), 23);
    close(s);
    close(l);
    close(cand);
    close(d);
    close_conn(c);
}

/* ---- signal handlers that call setsockopt --------------------------------- */

#define SIG_ROUNDS 20000
#define BAD_MAX 16

static struct conn handler_conn; /* the handler's own sockets */
static int main_conn_client;     /* the main loop's, for TCP_NODELAY from the handler */
static volatile sig_atomic_t handler_runs, handler_in_library, handler_seq;
static volatile sig_atomic_t handler_bad;
static struct {
    int what, got, in_library;
} bad_answers[BAD_MAX];
static uintptr_t lib_lo, lib_hi; /* libwsd.so's executable mapping */

static void bad_answer(int what, int got, int in_library)
{
    int i = handler_bad++;
    if (i < BAD_MAX) {
        bad_answers[i].what = what;
        bad_answers[i].got = got;
        bad_answers[i].in_library = in_library;
    }
}

static void on_signal(int sig, siginfo_t *info, void *uc)
{
    (void)sig;
    (void)info;
    int saved = errno;
    uintptr_t pc = (uintptr_t)((ucontext_t *)uc)->uc_mcontext.gregs[REG_RIP];
    int in_library = pc >= lib_lo && pc < lib_hi;
    handler_runs++;
    handler_in_library += in_library;
    int v = ++handler_seq;

    int r = setsockopt(handler_conn.client, SOL_SOCKET, PRIO, &v, sizeof v);
    if (r != 0)
        bad_answer(1, errno, in_library);
    int got = -1;
    socklen_t len = sizeof got;
    r = getsockopt(handler_conn.client, SOL_SOCKET, PRIO, &got, &len);
    if (r != 0)
        bad_answer(2, errno, in_library);
    else if (got != v)
        bad_answer(3, got, in_library);
    int code = 0;
    if (WSPSetSockOpt(handler_conn.server, WSOL, PRIO, (const char *)&v, 4, &code) != 0)
        bad_answer(4, code, in_library);
    got = -1;
    int glen = 4;
    if (WSPGetSockOpt(handler_conn.server, WSOL, PRIO, (char *)&got, &glen, &code) != 0)
        bad_answer(5, code, in_library);
    else if (got != v)
        bad_answer(6, got, in_library);
    int one = 1;
    if (setsockopt(main_conn_client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
        bad_answer(7, errno, in_library);
    errno = saved;
}

/* The executable mapping of the object that defines the interposed setsockopt. */
static void find_library_text(void)
{
    Dl_info info;
    SETUP(dladdr((void *)&setsockopt, &info) != 0 && info.dli_fname != NULL);
    SETUP(strstr(info.dli_fname, "libwsd") != NULL);
    FILE *maps = fopen("/proc/self/maps", "r");
    SETUP(maps != NULL);
    char line[1024];
    while (fgets(line, sizeof line, maps)) {
        unsigned long lo, hi;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && perms[2] == 'x' &&
            strstr(line, "libwsd")) {
            lib_lo = lo;
            lib_hi = hi;
        }
    }
    fclose(maps);
    SETUP(lib_hi > lib_lo);
}

static int stop_kicker;

/* Sends SIGUSR1 to the main thread until told to stop: one at a time (the next
 * once the handler has run), after a varying spin so that they land at every
 * point of the main loop's calls. */
static void *kicker(void *arg)
{
    pthread_t main_thread = *(pthread_t *)arg;
    unsigned seed = 12345;
    while (!__atomic_load_n(&stop_kicker, __ATOMIC_ACQUIRE)) {
        int before = handler_runs;
        pthread_kill(main_thread, SIGUSR1);
        while (handler_runs == before && !__atomic_load_n(&stop_kicker, __ATOMIC_ACQUIRE))
            sched_yield();
        seed = seed * 1103515245u + 12345u;
        for (volatile unsigned spin = (seed >> 16) % 4000; spin > 0; spin--) {
        }
    }
    return NULL;
}

static volatile sig_atomic_t sig_round;

static void signals_watchdog_fired(int sig)
{
    (void)sig;
    char line[160];
    int n = snprintf(line, sizeof line,
                     "life: watchdog fired: the signals case hung at round %d of %d, after %d "
                     "handler runs\n",
                     (int)sig_round, SIG_ROUNDS, (int)handler_runs);
    if (write(2, line, (size_t)n) < 0) { /* nothing more to do */
    }
    _exit(124);
}

static void posix_watchdog(int seconds)
{
    /* SIGALRM belongs to the case: a timer's SIGTERM ends a hang. */
    signal(SIGTERM, signals_watchdog_fired);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGTERM;
    timer_t t;
    SETUP(timer_create(CLOCK_MONOTONIC, &ev, &t) == 0);
    struct itimerspec its = { { 0, 0 }, { seconds, 0 } };
    SETUP(timer_settime(t, 0, &its, NULL) == 0);
}

static void signals_inside_hooks(void)
{
    posix_watchdog(20);
    find_library_text();
    handler_conn = loopback_conn();
    struct conn m = loopback_conn();
    main_conn_client = m.client;
    int cand = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(cand >= 0);

    static char altstack[1 << 16];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    SETUP(sigaltstack(&ss, NULL) == 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask); /* handlers do not nest: each checks its own set */
    sigaddset(&sa.sa_mask, SIGALRM);
    sigaddset(&sa.sa_mask, SIGUSR1);
    SETUP(sigaction(SIGALRM, &sa, NULL) == 0);
    sa.sa_flags |= SA_ONSTACK; /* SIGUSR1 runs on the alternate stack */
    SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);

    /* The kicker thread must not take the signals itself. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigaddset(&block, SIGUSR1);
    SETUP(pthread_sigmask(SIG_BLOCK, &block, &old) == 0);
    pthread_t self = pthread_self(), kick;
    SETUP(pthread_create(&kick, NULL, kicker, &self) == 0);
    SETUP(pthread_sigmask(SIG_SETMASK, &old, NULL) == 0);

    struct itimerval it = { { 0, 50 }, { 0, 50 } };
    SETUP(setitimer(ITIMER_REAL, &it, NULL) == 0);

    for (int i = 0; i < SIG_ROUNDS; i++) {
        sig_round = i;
        int v = i;
        CHECK_EQ(set_prio(m.client, v), 0);
        CHECK_EQ(prio(m.client), v);
        errno = 0;
        CHECK_EQ(setsockopt(m.client, SOL_SOCKET, PRIO, &(int){ -1 }, 4), -1);
        CHECK_EQ(errno, EINVAL);
        if (i % 4 == 0) {
            CHECK_EQ(wsp_set(m.server, WSOL, PRIO, v), 0);
            CHECK_EQ(wsp_value_of(m.server, WSOL, PRIO), v);
            CHECK_EQ(set_prio(cand, v), 0);
            CHECK_EQ(prio(cand), v);
            CHECK_EQ(set_int(m.server, IPPROTO_TCP, TCP_NODELAY, i & 1), 0);
        }
    }

    struct itimerval off = { { 0, 0 }, { 0, 0 } };
    SETUP(setitimer(ITIMER_REAL, &off, NULL) == 0);
    __atomic_store_n(&stop_kicker, 1, __ATOMIC_RELEASE);
    SETUP(pthread_join(kick, NULL) == 0);
    SETUP(pthread_sigmask(SIG_BLOCK, &block, NULL) == 0);

    int runs = handler_runs, inside = handler_in_library, bad = handler_bad;
    printf("signals: %d handler runs, %d of them interrupted libwsd's own code, %d wrong "
           "answers in handlers\n",
           runs, inside, bad);
    static const char *what[] = { "", "setsockopt failed, errno", "getsockopt failed, errno",
                                  "getsockopt read back", "WSPSetSockOpt failed, code",
                                  "WSPGetSockOpt failed, code", "WSPGetSockOpt read back",
                                  "setsockopt(TCP_NODELAY) failed, errno" };
    for (int i = 0; i < bad && i < BAD_MAX; i++)
        fprintf(stderr, "handler: %s %d (interrupted %s)\n", what[bad_answers[i].what],
                bad_answers[i].got, bad_answers[i].in_library ? "inside libwsd" : "elsewhere");
    CHECK_EQ(bad, 0);
    CHECK(runs >= 100);
    CHECK(inside >= 1); /* the case did interrupt the hooks */
    CHECK_EQ(prio(handler_conn.client), handler_seq);
    CHECK_EQ(prio(m.client), SIG_ROUNDS - 1);
    data_flows(m);
    close(cand);
    close_conn(m);
    close_conn(handler_conn);
}

/* ---- a dlopen()ed library --------------------------------------------------- */

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

/* ---- threads started from constructors ------------------------------------ */

#define STRICT_ROUNDS 200

struct ctor_thread {
    pthread_t thread;
    int started;
    long loose_rounds, strict_rounds, plain_sockets, san_sockets;
};

static struct ctor_thread ctor_threads[2];
static int main_started;

/* One socket's answers: a SAN socket (value kept) or, only while the library may
 * not have started, a plain socket the kernel answers. Returns 1 for SAN. */
static int one_socket(int fd, int value, int strict)
{
    int r = set_prio(fd, value);
    if (r == 0) {
        CHECK_EQ(prio(fd), value);
        CHECK_EQ(set_prio(fd, -1), EINVAL);
        CHECK_EQ(prio(fd), value);
        return 1;
    }
    CHECK(!strict);
    CHECK_EQ(r, ENOPROTOOPT);
    int v;
    CHECK_EQ(get_int(fd, SOL_SOCKET, PRIO, &v), ENOPROTOOPT);
    return 0;
}

static void *ctor_worker(void *arg)
{
    struct ctor_thread *t = arg;
    int id = (int)(t - ctor_threads) + 1;
    for (long i = 0;; i++) {
        int strict = __atomic_load_n(&main_started, __ATOMIC_ACQUIRE);
        if (strict && t->strict_rounds >= STRICT_ROUNDS)
            break;
        struct conn c = loopback_conn();
        int v = id * 100000 + (int)(i % 50000);
        int san = one_socket(c.client, v, strict);
        san += one_socket(c.server, v + 1, strict);
        CHECK_EQ(set_int(c.client, IPPROTO_TCP, TCP_NODELAY, 1), 0);
        data_flows(c);
        close_conn(c);
        t->san_sockets += san;
        t->plain_sockets += 2 - san;
        if (strict)
            t->strict_rounds++;
        else
            t->loose_rounds++;
    }
    return NULL;
}

static void start_ctor_thread(int which)
{
    if (!getenv("LIFE_CTOR_THREADS"))
        return;
    SETUP(pthread_create(&ctor_threads[which].thread, NULL, ctor_worker,
                         &ctor_threads[which]) == 0);
    ctor_threads[which].started = 1;
}

__attribute__((constructor(101))) static void first_constructor(void)
{
    start_ctor_thread(0);
}

__attribute__((constructor)) static void plain_constructor(void)
{
    start_ctor_thread(1);
}

static void constructor_threads(void)
{
    __atomic_store_n(&main_started, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) {
        CHECK(ctor_threads[i].started);
        if (!ctor_threads[i].started)
            continue;
        SETUP(pthread_join(ctor_threads[i].thread, NULL) == 0);
        CHECK_EQ(ctor_threads[i].strict_rounds, STRICT_ROUNDS);
        printf("ctor thread %d: %ld rounds before main, %ld after; %ld SAN and %ld plain "
               "sockets\n",
               i, ctor_threads[i].loose_rounds, ctor_threads[i].strict_rounds,
               ctor_threads[i].san_sockets, ctor_threads[i].plain_sockets);
    }
    /* A preloaded helper (life_early.c) may have started a thread too. */
    typedef int (*finish_fn)(long *, long *, long *, long *, int *);
    finish_fn finish = (finish_fn)dlsym(RTLD_DEFAULT, "life_early_finish");
    if (getenv("LIFE_EARLY_THREAD")) {
        SETUP(finish != NULL);
        long loose, strict, san, plain;
        int ready;
        int failures = finish(&loose, &strict, &san, &plain, &ready);
        CHECK_EQ(failures, 0);
        CHECK_EQ(strict, STRICT_ROUNDS);
        printf("early preloaded thread: library %s at its constructor; %ld rounds before "
               "main, %ld after; %ld SAN and %ld plain sockets\n",
               ready ? "started" : "not started yet", loose, strict, san, plain);
    }
    fresh_san_conn_works(60);
}

/* ---- segments the library refuses ------------------------------------------- */

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
        execl(self_exe, self_exe, "as-nobody", (char *)NULL);
        say("life: exec as nobody failed\n");
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
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    SETUP(n > 0);
    self_exe[n] = 0;
    const char *mode = argv[1];
    if (strcmp(mode, "signals") != 0)
        watchdog(90);

    if (strcmp(mode, "fork-threads") == 0)
        fork_while_threads_work();
    else if (strcmp(mode, "vfork") == 0)
        vfork_exec();
    else if (strcmp(mode, "spawn") == 0)
        posix_spawn_children();
    else if (strcmp(mode, "spawned") == 0 && argc > 2)
        spawned(argv[2]);
    else if (strcmp(mode, "close-all") == 0 && argc > 2)
        child_closes_everything(argv[2], argc > 3 && strcmp(argv[3], "exec") == 0);
    else if (strcmp(mode, "after-exec") == 0 && argc > 3)
        after_closing_everything(atoi(argv[2]), atoi(argv[3]), 1);
    else if (strcmp(mode, "signals") == 0)
        signals_inside_hooks();
    else if (strcmp(mode, "dlopen") == 0 && argc > 2)
        dlopened_library(argv[2]);
    else if (strcmp(mode, "constructors") == 0)
        constructor_threads();
    else if (strcmp(mode, "refused") == 0)
        san_refused();
    else if (strcmp(mode, "as-nobody") == 0)
        as_nobody();
    else if (strcmp(mode, "drop-to-nobody") == 0 && argc > 2)
        drop_to_nobody(argv[2]);
    else if (strcmp(mode, "hostile") == 0 && argc > 2)
        hostile(strcmp(argv[2], "refused") == 0);
    else {
        fprintf(stderr, "life: unknown case %s\n", mode);
        return 2;
    }
    harness_done();
}
