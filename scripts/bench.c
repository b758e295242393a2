/*
 * bench.c — the measured loops behind scripts/bench. Each mode runs one operation
 * N times after a warm-up and prints "ns_per_op calls_per_second". It is run with
 * and without LD_PRELOAD=libwsd.so by scripts/bench, which computes the ratios.
 *
 *   bench MODE N
 *   MODE: udp-set, tcp-set (TCP_NODELAY on a connected socket), set-debug,
 *         set-prio (SO_DEBUG / SO_GROUP_PRIORITY on a connected socket),
 *         set-alternate (the two in turn), set-cycle (five calls in turn), get-prio,
 *         get-nodelay, threads2 / threads1 (SO_GROUP_PRIORITY, 2 or 1 threads, each
 *         on its own connection), connect (connect+accept+close loop),
 *         connect-prio (connect+accept, SO_GROUP_PRIORITY set on the client, close
 *         both: one connection per loop), hold (holds N connections open, prints
 *         "ready N" and waits for the end of its standard input; nothing timed),
 *         pipe-rw (write MSG bytes into a pipe and read them back: two calls a
 *         loop), udp-rw (send MSG bytes on a connected UDP socket, recv them on its
 *         peer: two calls a loop), pingpong (MSG bytes each way over a loopback TCP
 *         connection, TCP_NODELAY on both ends, a second thread echoing: ns per
 *         round trip), wake (see below; nothing timed here)
 *   MSG: 64 bytes.
 *   wake N: N rounds; each makes a loopback connection, blocks a second thread in
 *         recv on its client end, and once that thread is seen waiting in the
 *         kernel (/proc/self/task/TID/syscall) prints "ready PORT" (the client's
 *         port: the connection's own end), then waits for the recv to return and
 *         prints "woke NS R ERRNO": CLOCK_MONOTONIC in ns just after it returned,
 *         what it returned and errno. scripts/bench resets the connection
 *         (wsd san reset 127.0.0.1:PORT) in between. No limit on the wait.
 *   ADDR (env BENCH_ADDR, default 127.0.0.1): the address to connect to.
 *   SECONDS (env BENCH_SECONDS, connect-prio only): stop the loop once it has run
 *         this long (the warm-up a tenth of it) and report ns/loop over the loops
 *         made: a bound on the time a slow loop (a full table, say) takes.
 *   hold exits with status 3 when the connections asked for cannot be held (out
 *   of descriptors or ephemeral ports), saying why on standard error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static const char *addr(void) {
    const char *a = getenv("BENCH_ADDR");
    return a ? a : "127.0.0.1";
}

static int listener(struct sockaddr_in *sa) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    socklen_t len = sizeof *sa;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    inet_pton(AF_INET, addr(), &sa->sin_addr);
    /* A backlog large enough for connections held by the thousand (each is
       accepted as it is made; the kernel caps it at somaxconn). */
    if (l < 0 || bind(l, (struct sockaddr *)sa, sizeof *sa) || listen(l, 4096) ||
        getsockname(l, (struct sockaddr *)sa, &len)) {
        perror("listener");
        exit(2);
    }
    return l;
}

/* A connected client socket (the server end is left open in *server). */
static int connection(int *server) {
    struct sockaddr_in sa;
    int l = listener(&sa);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&sa, sizeof sa)) {
        perror("connect");
        exit(2);
    }
    *server = accept(l, NULL, NULL);
    close(l);
    return c;
}

static void check(int r, const char *what) {
    if (r != 0) {
        perror(what);
        exit(2);
    }
}

/* Raises the descriptor limit to hold `held` connections (two descriptors each):
 * to 1 << 20 (root may raise the hard limit), else to fs.nr_open, else to the hard
 * limit. Exits with status 3, saying why, when that is not enough. scripts/bench
 * raises the limit before exec as well: libwsd.so sizes its descriptor table from
 * the limit at start-up, and a descriptor beyond the table is never a SAN socket. */
static void raise_nofile(long held) {
    struct rlimit r;
    long need = 2 * held + 64, nr_open = -1;
    FILE *f = fopen("/proc/sys/fs/nr_open", "r");
    if (f) {
        if (fscanf(f, "%ld", &nr_open) != 1) nr_open = -1;
        fclose(f);
    }
    getrlimit(RLIMIT_NOFILE, &r);
    if ((long)r.rlim_cur < need) {
        struct rlimit big = {1 << 20, 1 << 20}, nr = {(rlim_t)nr_open, (rlim_t)nr_open};
        if (setrlimit(RLIMIT_NOFILE, &big) && (nr_open <= 0 || setrlimit(RLIMIT_NOFILE, &nr))) {
            r.rlim_cur = r.rlim_max;
            setrlimit(RLIMIT_NOFILE, &r);
        }
        getrlimit(RLIMIT_NOFILE, &r);
    }
    if ((long)r.rlim_cur < need) {
        fprintf(stderr, "cannot hold %ld connections in one process: %ld descriptors needed, RLIMIT_NOFILE %ld "
                "(hard %ld, fs.nr_open %ld)\n", held, need, (long)r.rlim_cur, (long)r.rlim_max, nr_open);
        exit(3);
    }
}

static int *held_fds;
static long n_held;

/* Makes n connections to one listener of its own and keeps both ends open. */
static void hold(long n) {
    struct sockaddr_in sa;
    int l;
    if (n <= 0) return;
    raise_nofile(n);
    held_fds = malloc(2 * n * sizeof *held_fds);
    if (!held_fds) {
        perror("malloc");
        exit(2);
    }
    l = listener(&sa);
    for (long i = 0; i < n; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        int a = c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) ? -1 : accept(l, NULL, NULL);
        if (a < 0) {
            /* Out of descriptors or of ephemeral ports: N cannot be reached here. */
            int e = errno;
            fprintf(stderr, "cannot hold %ld connections: connection %ld: %s\n", n, i + 1, strerror(e));
            exit(e == EMFILE || e == ENFILE || e == EADDRNOTAVAIL ? 3 : 2);
        }
        held_fds[2 * i] = c;
        held_fds[2 * i + 1] = a;
        n_held = i + 1;
    }
    close(l);
}

/* The server ends first, as in the loops: TIME_WAIT stays on the listener's side. */
static void release(void) {
    for (long i = 0; i < n_held; i++) close(held_fds[2 * i + 1]);
    for (long i = 0; i < n_held; i++) close(held_fds[2 * i]);
    n_held = 0;
}

static long n_ops;

#define MSG 64

/* Exits unless a data call moved all `want` bytes. */
static void moved(ssize_t r, size_t want, const char *what) {
    if (r != (ssize_t)want) {
        if (r >= 0) fprintf(stderr, "bench: %s moved %zd of %zu bytes\n", what, r, want);
        else perror(what);
        exit(2);
    }
}

/* Descriptors that are not the library's: a pipe. */
static double pipe_rw(long n) {
    int p[2];
    char buf[MSG] = {0};
    check(pipe(p), "pipe");
    double t0 = now();
    for (long i = 0; i < n; i++) {
        moved(write(p[1], buf, MSG), MSG, "write");
        moved(read(p[0], buf, MSG), MSG, "read");
    }
    double dt = now() - t0;
    close(p[0]);
    close(p[1]);
    return dt / n;
}

/* A UDP socket bound to ADDR, port chosen by the kernel; its address in *sa. */
static int udp_socket(struct sockaddr_in *sa) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    socklen_t len = sizeof *sa;
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    inet_pton(AF_INET, addr(), &sa->sin_addr);
    if (s < 0 || bind(s, (struct sockaddr *)sa, sizeof *sa) || getsockname(s, (struct sockaddr *)sa, &len)) {
        perror("udp socket");
        exit(2);
    }
    return s;
}

/* Descriptors that are not the library's: a pair of connected UDP sockets. */
static double udp_rw(long n) {
    struct sockaddr_in sa, sb;
    int a = udp_socket(&sa), b = udp_socket(&sb);
    char buf[MSG] = {0};
    check(connect(a, (struct sockaddr *)&sb, sizeof sb), "connect");
    check(connect(b, (struct sockaddr *)&sa, sizeof sa), "connect");
    double t0 = now();
    for (long i = 0; i < n; i++) {
        moved(send(a, buf, MSG, 0), MSG, "send");
        moved(recv(b, buf, MSG, 0), MSG, "recv");
    }
    double dt = now() - t0;
    close(a);
    close(b);
    return dt / n;
}

/* Receives exactly MSG bytes (a stream may split them); 0 at the end of it. */
static int recv_msg(int fd, char *buf) {
    size_t got = 0;
    while (got < MSG) {
        ssize_t r = recv(fd, buf + got, MSG - got, 0);
        if (r == 0 && got == 0) return 0;
        if (r <= 0) {
            if (r < 0 && errno == EINTR) continue;
            moved(r, MSG - got, "recv");
        }
        got += (size_t)r;
    }
    return 1;
}

static void *echo(void *arg) {
    int fd = *(int *)arg;
    char buf[MSG];
    while (recv_msg(fd, buf)) moved(send(fd, buf, MSG, 0), MSG, "send");
    return NULL;
}

/* MSG bytes each way over one loopback connection, the server end echoing from
 * a second thread: ns per round trip. */
static double pingpong(long n) {
    int server, c = connection(&server), one = 1;
    char buf[MSG] = {0};
    pthread_t th;
    /* The answer is not checked: Nagle's delay could only slow both alike. */
    (void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_create(&th, NULL, echo, &server);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        buf[0] = (char)i;
        moved(send(c, buf, MSG, 0), MSG, "send");
        if (!recv_msg(c, buf)) moved(0, MSG, "recv");
    }
    double dt = now() - t0;
    shutdown(c, SHUT_WR); /* the echo thread sees the end and returns */
    pthread_join(th, NULL);
    close(c);
    close(server);
    return dt / n;
}

static long long mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int wake_fd;
static pid_t wake_tid;  /* these two read and written with __atomic builtins */
static int wake_done;
static long long wake_at;
static ssize_t wake_r;
static int wake_errno;

static void *blocked_recv(void *arg) {
    char b;
    (void)arg;
    __atomic_store_n(&wake_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    wake_r = recv(wake_fd, &b, 1, 0);
    wake_at = mono_ns();
    wake_errno = errno;
    __atomic_store_n(&wake_done, 1, __ATOMIC_RELEASE);
    return NULL;
}

/* Whether thread `tid` of this process waits in recv (recvfrom where the kernel
 * has no recv) in the kernel. */
static int waits_in_recv(pid_t tid) {
    char path[64];
    long nr = -1;
    snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    if (fscanf(f, "%ld", &nr) != 1) nr = -1;
    fclose(f);
#ifdef SYS_recv
    if (nr == SYS_recv) return 1;
#endif
    return nr == SYS_recvfrom;
}

static void wake(long n) {
    struct sockaddr_in sa, ca;
    int l = listener(&sa);
    for (long i = 0; i < n; i++) {
        socklen_t len = sizeof ca;
        pthread_t th;
        int c = socket(AF_INET, SOCK_STREAM, 0);
        check(connect(c, (struct sockaddr *)&sa, sizeof sa), "connect");
        int s = accept(l, NULL, NULL);
        check(getsockname(c, (struct sockaddr *)&ca, &len), "getsockname");
        wake_fd = c;
        wake_tid = 0;
        wake_done = 0;
        pthread_create(&th, NULL, blocked_recv, NULL);
        for (;;) {
            pid_t tid = __atomic_load_n(&wake_tid, __ATOMIC_ACQUIRE);
            if (__atomic_load_n(&wake_done, __ATOMIC_ACQUIRE) || (tid != 0 && waits_in_recv(tid))) break;
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
        }
        printf("ready %d\n", ntohs(ca.sin_port));
        fflush(stdout);
        pthread_join(th, NULL);
        printf("woke %lld %zd %d\n", wake_at, wake_r, wake_r < 0 ? wake_errno : 0);
        fflush(stdout);
        close(c);
        close(s);
    }
    close(l);
}

static void *prio_loop(void *arg) {
    int server, c = connection(&server);
    (void)arg;
    for (long i = 0; i < n_ops; i++) {
        int v = (int)(i & 7);
        check(setsockopt(c, SOL_SOCKET, 0x2002, &v, sizeof v), "setsockopt");
    }
    close(c);
    close(server);
    return NULL;
}

static double run(const char *mode, long n, double max_ns) {
    int server = -1, fd = -1, one = 1;
    socklen_t len = sizeof one;
    if (!strcmp(mode, "pipe-rw")) return pipe_rw(n);
    if (!strcmp(mode, "udp-rw")) return udp_rw(n);
    if (!strcmp(mode, "pingpong")) return pingpong(n);
    if (!strcmp(mode, "udp-set"))
        fd = socket(AF_INET, SOCK_DGRAM, 0);
    else if (strncmp(mode, "connect", 7) && strncmp(mode, "threads", 7))
        fd = connection(&server);
    double t0 = now();
    if (!strcmp(mode, "udp-set")) {
        for (long i = 0; i < n; i++) check(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), "set");
    } else if (!strcmp(mode, "tcp-set")) {
        for (long i = 0; i < n; i++) check(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), "set");
    } else if (!strcmp(mode, "set-debug")) {
        for (long i = 0; i < n; i++) {
            int v = 0;
            check(setsockopt(fd, SOL_SOCKET, SO_DEBUG, &v, sizeof v), "set");
        }
    } else if (!strcmp(mode, "set-prio")) {
        for (long i = 0; i < n; i++) {
            int v = (int)(i & 7);
            check(setsockopt(fd, SOL_SOCKET, 0x2002, &v, sizeof v), "set");
        }
    } else if (!strcmp(mode, "set-alternate")) {
        /* SO_DEBUG and SO_GROUP_PRIORITY in turn, as a program setting up each
         * connection does: each is one of the thread's last four calls. */
        for (long i = 0; i < n; i++) {
            int v = (int)(i & 7), zero = 0;
            if (i & 1)
                check(setsockopt(fd, SOL_SOCKET, 0x2002, &v, sizeof v), "set");
            else
                check(setsockopt(fd, SOL_SOCKET, SO_DEBUG, &zero, sizeof zero), "set");
        }
    } else if (!strcmp(mode, "set-cycle")) {
        /* Five different calls in turn (both numberings of SOL_SOCKET, two
         * lengths): none is among the thread's last four, so every call takes
         * the whole path. */
        static const int levels[5] = {SOL_SOCKET, 0xffff, SOL_SOCKET, 0xffff, SOL_SOCKET};
        static const int names[5] = {SO_DEBUG, SO_DEBUG, 0x2002, 0x2002, 0x2002};
        static const socklen_t lens[5] = {4, 4, 4, 4, 8};
        for (long i = 0; i < n; i++) {
            long long v = 0;
            int k = (int)(i % 5);
            check(setsockopt(fd, levels[k], names[k], &v, lens[k]), "set");
        }
    } else if (!strcmp(mode, "get-prio")) {
        for (long i = 0; i < n; i++) {
            int v;
            len = sizeof v;
            check(getsockopt(fd, SOL_SOCKET, 0x2002, &v, &len), "get");
        }
    } else if (!strcmp(mode, "get-nodelay")) {
        for (long i = 0; i < n; i++) {
            int v;
            len = sizeof v;
            check(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &len), "get");
        }
    } else if (!strncmp(mode, "threads", 7)) {
        int t = atoi(mode + 7);
        pthread_t th[8];
        n_ops = n;
        t0 = now();
        for (int i = 0; i < t; i++) pthread_create(&th[i], NULL, prio_loop, NULL);
        for (int i = 0; i < t; i++) pthread_join(th[i], NULL);
        n *= t;
    } else if (!strcmp(mode, "connect")) {
        struct sockaddr_in sa;
        int l = listener(&sa);
        t0 = now();
        for (long i = 0; i < n; i++) {
            int c = socket(AF_INET, SOCK_STREAM, 0);
            check(connect(c, (struct sockaddr *)&sa, sizeof sa), "connect");
            int a = accept(l, NULL, NULL);
            /* The server closes first, so TIME_WAIT stays on the listener's side and
               the client's ephemeral ports do not run out over many runs. */
            close(a);
            close(c);
        }
        close(l);
    } else if (!strcmp(mode, "connect-prio")) {
        /* One loopback connection per loop, its client given a SO_GROUP_PRIORITY
           as a program setting up each connection does. The answer is not checked:
           the kernel refuses the option (natively, or after a fallback to plain
           TCP); the figure is the loop's cost. */
        struct sockaddr_in sa;
        int l = listener(&sa);
        long i;
        t0 = now();
        for (i = 0; i < n && (max_ns <= 0 || now() - t0 < max_ns); i++) {
            int c = socket(AF_INET, SOCK_STREAM, 0), v = (int)(i & 7);
            check(connect(c, (struct sockaddr *)&sa, sizeof sa), "connect");
            int a = accept(l, NULL, NULL);
            (void)setsockopt(c, SOL_SOCKET, 0x2002, &v, sizeof v);
            close(a);
            close(c);
        }
        n = i;
        close(l);
    } else {
        fprintf(stderr, "bench: unknown mode %s\n", mode);
        exit(2);
    }
    double dt = now() - t0;
    if (fd >= 0) close(fd);
    if (server >= 0) close(server);
    return dt / n;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: bench MODE N\n");
        return 2;
    }
    long n = atol(argv[2]);
    if (!strcmp(argv[1], "hold")) {
        char buf[64];
        hold(n);
        printf("ready %ld\n", n_held);
        fflush(stdout);
        while (read(0, buf, sizeof buf) > 0) {
        }
        release();
        return 0;
    }
    if (!strcmp(argv[1], "wake")) {
        wake(n);
        return 0;
    }
    const char *s = getenv("BENCH_SECONDS");
    double max_ns = s ? atof(s) * 1e9 : 0;
    run(argv[1], n / 10 + 1, max_ns / 10); /* warm-up */
    double ns = run(argv[1], n, max_ns);
    printf("%.2f %.0f\n", ns, 1e9 / ns);
    return 0;
}
