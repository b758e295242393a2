/*
 * life_signals.c — signal handlers that call setsockopt while the interrupted
 * thread may be inside one of the library's hooks (run by tests/process_life.rs):
 * an interval timer (SIGALRM) and a thread (SIGUSR1, on an alternate stack) keep
 * interrupting a main loop of 20000 rounds of set, get and WSP calls; every
 * handler sets and reads options on sockets of its own and must get the answers
 * it gets anywhere else, and the main loop's answers must stay right. Some
 * signals must have landed inside libwsd.so's own code.
 *
 * A POSIX timer is the watchdog (SIGALRM belongs to the case): a hang ends the
 * program with status 124.
 */
#include "process.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <sys/time.h>
#include <time.h>
#include <ucontext.h>

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
                     "life_signals: watchdog fired: the case hung at round %d of %d, after %d "
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

int main(void)
{
    signals_inside_hooks();
    harness_done();
}
