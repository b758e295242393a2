/*
 * threads.c — 8 threads at once, each with its own loopback connection, each
 * setting and reading back SO_GROUP_PRIORITY on both its sockets with values no
 * other thread uses. Every read must return the thread's own last value.
 */
#include "harness.h"

#include <pthread.h>

#define THREADS 8
#define ROUNDS 2000

static void *worker(void *arg)
{
    int id = (int)(long)arg;
    struct conn c = loopback_conn();
    int level[2] = { SOL_SOCKET, WSD_SOL_SOCKET };
    for (int i = 0; i < ROUNDS; i++) {
        int v = id * 1000000 + i * 2;
        int lv = level[i & 1];
        CHECK_EQ(set_int(c.client, lv, SO_GROUP_PRIORITY, v), 0);
        CHECK_EQ(set_int(c.server, lv, SO_GROUP_PRIORITY, v + 1), 0);
        CHECK_EQ(value_of(c.client, level[!(i & 1)], SO_GROUP_PRIORITY), v);
        CHECK_EQ(value_of(c.server, lv, SO_GROUP_PRIORITY), v + 1);
        if (i % 100 == 0) {
            CHECK_EQ(set_int(c.client, SOL_SOCKET, SO_GROUP_PRIORITY, -1), EINVAL);
            CHECK_EQ(value_of(c.client, SOL_SOCKET, SO_GROUP_PRIORITY), v);
            CHECK_EQ(set_int(c.client, IPPROTO_TCP, TCP_NODELAY, i & 1), 0);
        }
    }
    close_conn(c);
    return NULL;
}

int main(void)
{
    pthread_t t[THREADS];
    for (long i = 0; i < THREADS; i++)
        SETUP(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
    for (int i = 0; i < THREADS; i++)
        SETUP(pthread_join(t[i], NULL) == 0);
    harness_done();
}
