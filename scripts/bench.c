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
 *         on its own connection), connect (connect+accept+close loop)
 *   ADDR (env BENCH_ADDR, default 127.0.0.1): the address to connect to.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
    if (l < 0 || bind(l, (struct sockaddr *)sa, sizeof *sa) || listen(l, 128) ||
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

static long n_ops;

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

static double run(const char *mode, long n) {
    int server = -1, fd = -1, one = 1;
    socklen_t len = sizeof one;
    if (!strcmp(mode, "udp-set"))
        fd = socket(AF_INET, SOCK_DGRAM, 0);
    else if (strcmp(mode, "connect") && strncmp(mode, "threads", 7))
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
    run(argv[1], n / 10 + 1); /* warm-up */
    double ns = run(argv[1], n);
    printf("%.2f %.0f\n", ns, 1e9 / ns);
    return 0;
}
