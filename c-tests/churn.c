/*
 * churn.c — a load worker for tests/scale.rs (not one of the c_tests.rs cases).
 *
 *   churn THREADS COUNT ROUNDS DEADLINE_MS calm|faults [SEED]
 *   churn peer PORT DEADLINE_MS
 *
 * Worker mode: THREADS threads each make up to COUNT loopback TCP connections
 * (their own listener on 127.0.0.1 port 0, connect, accept), stopping early when
 * DEADLINE_MS milliseconds have passed since start. On each connection they set
 * options on both ends (SO_GROUP_PRIORITY, SO_DEBUG 0, TCP_NODELAY) and read them
 * back for 1 to ROUNDS rounds, then close — sometimes one end abortively
 * (SO_LINGER {1, 0}) first, after which the other end is used once more. COUNT
 * bounds the connections (and so the ports left in TIME_WAIT); ROUNDS sets how
 * much option traffic each one carries.
 *
 * Peer mode: connect to 127.0.0.1:PORT, print "connected LOCAL_PORT", and set
 * options on that socket until DEADLINE_MS has passed (the test kills it while it
 * does: its survivor is the other end).
 *
 * Every setsockopt/getsockopt result is classified against what the socket's
 * state allows (SPEC §2.2, §4.2, §4.3, §5):
 *
 *   - a candidate (before listen/connect) answers every option: only 0;
 *   - ENETDOWN (network down), ENOTCONN and ENETRESET (reset, keep-alive failure)
 *     come only from SAN sockets; ENOTCONN/ENETRESET only from setsockopt; after
 *     either, no setsockopt on that socket succeeds again (nothing heals a
 *     connection);
 *   - ENOPROTOOPT only for SO_GROUP_PRIORITY on a socket that fell back to plain
 *     TCP with no remembered value (the kernel answers it), and never on a socket
 *     seen to be a SAN socket; a socket seen to be plain TCP never turns SAN;
 *   - a successful read returns the value last set (SO_DEBUG: 0);
 *   - once one end closed abortively, its SAN peer's setsockopt no longer
 *     succeeds (calm: it answers exactly ENOTCONN).
 *
 * "calm" is for runs with no fault injected: only 0 is allowed, and ENOTCONN where
 * the peer closed abortively. "faults" allows what injected faults cause. Anything
 * else prints "churn: FAIL ..." with the socket's recent history and exits 1. At
 * the end the counters are printed on one line:
 *
 *   counters calls=N ok=N ENETDOWN=N ENOTCONN=N ENETRESET=N ENOPROTOOPT=N
 *            conns=N aborts=N san=N plain=N unknown=N
 *
 * (calls = ok + the four errors, always.) A failure of the set-up itself (socket,
 * bind, listen, connect, accept) exits 2.
 *
 * With CHURN_PROGRESS set in the environment, worker mode also writes single
 * bytes to standard error as it goes — 'S' once started, '+' when a connection is
 * made, '-' when all of its sockets are closed — so that whoever kills it can tell
 * where the kill landed.
 */
#include "harness.h"

#include <pthread.h>
#include <stdarg.h>
#include <time.h>

/* ---- counters ------------------------------------------------------------ */

enum { C_CALLS, C_OK, C_NETDOWN, C_NOTCONN, C_NETRESET, C_NOPROTOOPT,
       C_CONNS, C_ABORTS, C_SAN, C_PLAIN, C_UNKNOWN, C_N };
static const char *const counter_name[C_N] = {
    "calls", "ok", "ENETDOWN", "ENOTCONN", "ENETRESET", "ENOPROTOOPT",
    "conns", "aborts", "san", "plain", "unknown",
};
static long counters[C_N];

static void bump(int c)
{
    __atomic_fetch_add(&counters[c], 1, __ATOMIC_RELAXED);
}

static void print_counters(void)
{
    printf("counters");
    for (int i = 0; i < C_N; i++)
        printf(" %s=%ld", counter_name[i], __atomic_load_n(&counters[i], __ATOMIC_RELAXED));
    printf("\n");
    fflush(stdout);
}

/* ---- time and randomness -------------------------------------------------- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long deadline;
static int faults;   /* 1: faults may be injected */
static int progress; /* CHURN_PROGRESS: mark the steps on standard error */

static void mark(char c)
{
    if (progress && write(2, &c, 1) != 1)
        progress = 0;
}

/* xorshift64* */
static unsigned rnd(uint64_t *s, unsigned n)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (unsigned)((*s * 0x2545F4914F6CDD1DULL) >> 33) % n;
}

/* ---- sockets and what is known of them ------------------------------------ */

enum kind {
    K_CANDIDATE, /* role not known yet: the switch answers provider options */
    K_UNKNOWN,   /* SAN, or plain TCP: not told apart yet */
    K_SAN,       /* seen answering as a SAN socket */
    K_PLAIN,     /* seen answering as plain TCP with nothing remembered (kernel) */
};
static const char *const kind_name[] = { "candidate", "unknown", "SAN", "plain" };

#define HIST 12

struct sock {
    const char *name;
    int fd;
    enum kind kind;
    int preset;       /* SO_GROUP_PRIORITY set while a candidate: a fallback remembers it */
    struct sock *listener; /* for an accepted socket: what it was accepted from */
    int broken;       /* answered ENOTCONN/ENETRESET: no set succeeds again */
    int must_fail;    /* its SAN peer closed abortively */
    int peer_aborted; /* its peer closed abortively (calm: exactly ENOTCONN) */
    int expect;       /* the SO_GROUP_PRIORITY a read must return; -1 unknown */
    int conn;         /* connection number in its thread */
    int thread;
    char hist[HIST][48];
    int nhist;
};

static void sock_init(struct sock *s, const char *name, int thread, int conn)
{
    memset(s, 0, sizeof *s);
    s->name = name;
    s->fd = -1;
    s->kind = K_CANDIDATE;
    s->expect = 0;
    s->thread = thread;
    s->conn = conn;
}

/* Could this socket be plain TCP still answering a remembered SO_GROUP_PRIORITY? */
static int may_remember(const struct sock *s)
{
    if (s->listener) /* accepted from a SAN listener: inherits its values */
        return s->listener->kind != K_PLAIN;
    return s->preset;
}

/* Could it be plain TCP with nothing remembered (the kernel answers)? */
static int may_be_empty(const struct sock *s)
{
    if (s->listener) /* accepted from a plain listener: not ours at all */
        return s->listener->kind != K_SAN;
    return !s->preset;
}

static const char *errname(int e)
{
    switch (e) {
    case 0: return "ok";
    case ENETDOWN: return "ENETDOWN";
    case ENOTCONN: return "ENOTCONN";
    case ENETRESET: return "ENETRESET";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EINVAL: return "EINVAL";
    case EFAULT: return "EFAULT";
    case ENOTSOCK: return "ENOTSOCK";
    case EBADF: return "EBADF";
    default: return strerror(e);
    }
}

static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;

static _Noreturn void fail(const struct sock *s, const char *call, int e, const char *fmt, ...)
{
    pthread_mutex_lock(&fail_lock);
    fprintf(stderr, "%schurn: FAIL pid=%d thread=%d conn=%d %s (fd %d, %s, %s%s%s): %s -> %s (%d): ",
            progress ? "\n" : "", (int)getpid(), s->thread, s->conn, s->name, s->fd, kind_name[s->kind],
            s->preset ? "preset" : "not preset", s->broken ? ", broken" : "",
            s->peer_aborted ? ", peer aborted" : "", call, errname(e), e);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  history (oldest first):");
    int first = s->nhist > HIST ? s->nhist - HIST : 0;
    for (int i = first; i < s->nhist; i++)
        fprintf(stderr, " [%s]", s->hist[i % HIST]);
    fprintf(stderr, "\n");
    fflush(stderr);
    print_counters();
    _exit(1);
}

static void remember_call(struct sock *s, const char *call, int e)
{
    snprintf(s->hist[s->nhist % HIST], sizeof s->hist[0], "%s %s", call, errname(e));
    s->nhist++;
}

static void learn(struct sock *s, enum kind k, const char *call, int e)
{
    if (s->kind != K_UNKNOWN && s->kind != k)
        fail(s, call, e, "answers as %s, but was seen as %s", kind_name[k], kind_name[s->kind]);
    s->kind = k;
}

/*
 * Classifies one result: `set` says setsockopt (else getsockopt), `prio` that the
 * option is SO_GROUP_PRIORITY, `e` is 0 or the errno. Counts it; fails the run if
 * it is not allowed.
 */
static void classify(struct sock *s, const char *call, int set, int prio, int e)
{
    bump(C_CALLS);
    remember_call(s, call, e);
    switch (e) {
    case 0: bump(C_OK); break;
    case ENETDOWN: bump(C_NETDOWN); break;
    case ENOTCONN: bump(C_NOTCONN); break;
    case ENETRESET: bump(C_NETRESET); break;
    case ENOPROTOOPT: bump(C_NOPROTOOPT); break;
    default: fail(s, call, e, "not an answer any state allows");
    }
    if (s->kind == K_CANDIDATE) {
        if (e != 0)
            fail(s, call, e, "a candidate's options are answered by the switch");
        return;
    }
    switch (e) {
    case 0:
        if (set && s->broken)
            fail(s, call, e, "succeeded after the connection answered ENOTCONN/ENETRESET");
        if (set && s->must_fail)
            fail(s, call, e, "succeeded after its SAN peer closed abortively");
        if (set && !faults && s->peer_aborted)
            fail(s, call, e, "its peer closed abortively: want ENOTCONN");
        if (set && prio) {
            if (s->kind == K_PLAIN)
                fail(s, call, e, "a plain socket took SO_GROUP_PRIORITY");
            if (!may_remember(s))
                learn(s, K_SAN, call, e);
        }
        break;
    case ENETDOWN:
        if (!faults)
            fail(s, call, e, "the network was never brought down");
        learn(s, K_SAN, call, e);
        break;
    case ENOTCONN:
    case ENETRESET:
        if (!set)
            fail(s, call, e, "not a getsockopt error (SPEC §3)");
        if (!faults && !(e == ENOTCONN && s->peer_aborted))
            fail(s, call, e, "no fault was injected and its peer did not close abortively");
        learn(s, K_SAN, call, e);
        s->broken = 1;
        break;
    case ENOPROTOOPT:
        if (!faults)
            fail(s, call, e, "nothing could make this socket fall back to plain TCP");
        if (!prio)
            fail(s, call, e, "only SO_GROUP_PRIORITY is unknown to plain TCP");
        if (!may_be_empty(s))
            fail(s, call, e, "a SAN socket, or plain TCP remembering a value (%s): the kernel "
                 "must never answer it (its endpoint record gone?)",
                 s->listener ? "accepted from a SAN listener" : "preset as a candidate");
        learn(s, K_PLAIN, call, e);
        break;
    }
}

/* ---- the calls ------------------------------------------------------------ */

static void set_prio(struct sock *s, int v)
{
    int e = set_int(s->fd, SOL_SOCKET, SO_GROUP_PRIORITY, v);
    classify(s, "set SO_GROUP_PRIORITY", 1, 1, e);
    if (e == 0)
        s->expect = v;
}

static void set_debug0(struct sock *s)
{
    classify(s, "set SO_DEBUG 0", 1, 0, set_int(s->fd, SOL_SOCKET, SO_DEBUG, 0));
}

static void set_nodelay(struct sock *s, int on)
{
    classify(s, "set TCP_NODELAY", 1, 0, set_int(s->fd, IPPROTO_TCP, TCP_NODELAY, on));
}

static void get_prio(struct sock *s)
{
    int v = -777;
    int e = get_int(s->fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v);
    classify(s, "get SO_GROUP_PRIORITY", 0, 1, e);
    if (e == 0 && s->expect >= 0 && v != s->expect)
        fail(s, "get SO_GROUP_PRIORITY", e, "read %d, last set %d", v, s->expect);
}

static void get_debug(struct sock *s)
{
    int v = -777;
    int e = get_int(s->fd, SOL_SOCKET, SO_DEBUG, &v);
    classify(s, "get SO_DEBUG", 0, 0, e);
    if (e == 0 && v != 0)
        fail(s, "get SO_DEBUG", e, "read %d, only 0 was ever set", v);
}

/* SO_LINGER {1, 0}; 1 if the socket took it (its close is then abortive). */
static int set_abortive(struct sock *s)
{
    struct linger l = { 1, 0 };
    int e = set_raw(s->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    classify(s, "set SO_LINGER {1,0}", 1, 0, e);
    return e == 0;
}

static void round_on(struct sock *s, uint64_t *rng)
{
    set_prio(s, (int)rnd(rng, 1000000));
    set_debug0(s);
    set_nodelay(s, (int)rnd(rng, 2));
    get_prio(s);
    get_debug(s);
}

static void count_kind(const struct sock *s)
{
    bump(s->kind == K_SAN ? C_SAN : s->kind == K_PLAIN ? C_PLAIN : C_UNKNOWN);
}

static void close_sock(struct sock *s)
{
    count_kind(s);
    SETUP(close(s->fd) == 0);
    s->fd = -1;
}

/* `x` closes abortively (if it takes SO_LINGER), then `y` is used once more. */
static void abort_one(struct sock *x, struct sock *y, uint64_t *rng)
{
    int known_san = x->kind == K_SAN;
    if (set_abortive(x)) {
        bump(C_ABORTS);
        close_sock(x);
        y->peer_aborted = 1;
        if (known_san && y->kind == K_SAN)
            y->must_fail = 1;
        round_on(y, rng);
    } else {
        close_sock(x);
    }
    close_sock(y);
}

static int max_rounds = 3;

/* A new TCP socket for `sk`, SO_REUSEADDR on (ports in TIME_WAIT stay usable:
 * many short connections never run out), and one time in two a group priority
 * set while it is a candidate. */
static void open_candidate(struct sock *sk, uint64_t *rng)
{
    sk->fd = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(sk->fd >= 0);
    classify(sk, "set SO_REUSEADDR", 1, 0, set_int(sk->fd, SOL_SOCKET, SO_REUSEADDR, 1));
    if (rnd(rng, 2)) {
        set_prio(sk, (int)rnd(rng, 1000));
        sk->preset = 1;
    }
}

static void one_connection(int thread, int n, uint64_t *rng)
{
    struct sock l, c, s;
    sock_init(&l, "listener", thread, n);
    sock_init(&c, "client", thread, n);
    sock_init(&s, "server", thread, n);
    struct sockaddr_in addr;

    open_candidate(&l, rng);
    bind_to(l.fd, "127.0.0.1", &addr);
    SETUP(listen(l.fd, 4) == 0);
    l.kind = K_UNKNOWN;

    open_candidate(&c, rng);
    connect_to(c.fd, &addr);
    c.kind = K_UNKNOWN;

    s.fd = accept(l.fd, NULL, NULL);
    SETUP(s.fd >= 0);
    s.kind = K_UNKNOWN;
    s.listener = &l;
    s.expect = l.expect; /* what an accepted socket inherits */
    bump(C_CONNS);
    mark('+');

    /* What each end starts with. */
    get_prio(&c);
    get_prio(&s);

    int rounds = 1 + (int)rnd(rng, (unsigned)max_rounds);
    for (int r = 0; r < rounds; r++) {
        if (rnd(rng, 4) == 0)
            round_on(&l, rng);
        round_on(&c, rng);
        round_on(&s, rng);
    }

    switch (rnd(rng, 3)) {
    case 0: /* graceful, in either order */
        if (rnd(rng, 2)) {
            close_sock(&c);
            close_sock(&s);
        } else {
            close_sock(&s);
            close_sock(&c);
        }
        break;
    case 1:
        abort_one(&c, &s, rng);
        break;
    default:
        abort_one(&s, &c, rng);
        break;
    }
    close_sock(&l);
    mark('-');
}

/* ---- the modes ----------------------------------------------------------- */

struct worker {
    int id;
    long count;
    uint64_t seed;
};

static void *worker(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = w->seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(w->id + 1));
    if (rng == 0)
        rng = 1;
    for (long n = 0; n < w->count && now_ms() < deadline; n++)
        one_connection(w->id, (int)n, &rng);
    return NULL;
}

static int peer(int port, long long ms)
{
    deadline = now_ms() + ms;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    SETUP(inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr) == 1);
    struct sock c;
    sock_init(&c, "peer", 0, 0);
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(c.fd >= 0);
    connect_to(c.fd, &addr);
    c.kind = K_UNKNOWN;
    struct sockaddr_in local;
    socklen_t len = sizeof local;
    SETUP(getsockname(c.fd, (struct sockaddr *)&local, &len) == 0);
    printf("connected %d\n", ntohs(local.sin_port));
    fflush(stdout);
    uint64_t rng = (uint64_t)getpid() * 0x9E3779B97F4A7C15ULL + 1;
    while (now_ms() < deadline)
        round_on(&c, &rng);
    close_sock(&c);
    print_counters();
    return 0;
}

static long number(const char *s, const char *what)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 0);
    if (errno || *end || v < 0) {
        fprintf(stderr, "churn: %s: not a number: %s\n", what, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "peer") == 0) {
        faults = 0;
        return peer((int)number(argv[2], "PORT"), number(argv[3], "DEADLINE_MS"));
    }
    if (argc < 6 || argc > 7 || (strcmp(argv[5], "calm") && strcmp(argv[5], "faults"))) {
        fprintf(stderr, "usage: churn THREADS COUNT ROUNDS DEADLINE_MS calm|faults [SEED]\n"
                        "       churn peer PORT DEADLINE_MS\n");
        return 2;
    }
    long threads = number(argv[1], "THREADS");
    long count = number(argv[2], "COUNT");
    max_rounds = (int)number(argv[3], "ROUNDS");
    deadline = now_ms() + number(argv[4], "DEADLINE_MS");
    faults = strcmp(argv[5], "faults") == 0;
    uint64_t seed = argc == 7 ? (uint64_t)number(argv[6], "SEED") : (uint64_t)getpid();
    if (threads < 1 || threads > 64 || max_rounds < 1 || max_rounds > 1000000) {
        fprintf(stderr, "churn: THREADS must be 1..64, ROUNDS 1..1000000\n");
        return 2;
    }
    progress = getenv("CHURN_PROGRESS") != NULL;
    mark('S');
    pthread_t t[64];
    struct worker w[64];
    for (long i = 0; i < threads; i++) {
        w[i] = (struct worker){ .id = (int)i, .count = count, .seed = seed };
        SETUP(pthread_create(&t[i], NULL, worker, &w[i]) == 0);
    }
    for (long i = 0; i < threads; i++)
        SETUP(pthread_join(t[i], NULL) == 0);
    print_counters();
    return 0;
}
