/*
 * life_fork.c — fork while other threads are inside the hooks (run by
 * tests/process_life.rs): four threads set and get SAN options in a loop, making
 * and closing connections, while the main thread forks 100 times; each child,
 * where only the forking thread exists, must find every socket's values and make
 * new SAN connections, and the parent's sockets must carry on.
 *
 * A watchdog ends a hang with status 124.
 */
#include "process.h"

#include <pthread.h>
#include <sched.h>

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

int main(void)
{
    watchdog(90);
    fork_while_threads_work();
    harness_done();
}
