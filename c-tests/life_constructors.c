/*
 * life_constructors.c — threads started from constructors (run by
 * tests/process_life.rs): with LIFE_CTOR_THREADS set, two constructors of this
 * program (one with priority 101, one plain) each start a thread that makes
 * loopback connections and sets options at once, possibly before libwsd.so has
 * started. Until main() runs, a socket may be a SAN socket or a plain one the
 * kernel answers, but each must answer consistently; after that every socket must
 * be a SAN socket. With LIFE_EARLY_THREAD set, a preloaded helper
 * (life_early.so) does the same from its own constructor, before or after
 * libwsd.so's.
 *
 * A watchdog ends a hang with status 124.
 */
#include "process.h"

#include <dlfcn.h>
#include <pthread.h>

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

int main(void)
{
    watchdog(90);
    constructor_threads();
    harness_done();
}
