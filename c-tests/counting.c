/*
 * counting.c — the report counts every call exactly (run by tests/report.rs).
 *
 * Two waves of THREADS threads (the second reuses the counting lanes the first
 * gave back when it exited) each make a loopback SAN connection and set, then
 * read, SO_GROUP_PRIORITY ROUNDS times. Meanwhile a signaller keeps sending
 * SIGUSR1 to the running workers; the handler sets the option once more on its
 * thread's socket — often while the thread is inside the library. Prints
 * `sets N gets N`: what the report must show for this program.
 */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define THREADS 4
#define ROUNDS 100000

static _Thread_local int my_fd = -1;
static atomic_long handled;

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    if (my_fd >= 0) {
        int v = 1;
        if (setsockopt(my_fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v, sizeof v) == 0)
            atomic_fetch_add(&handled, 1);
        else
            CHECK(0 && "setsockopt in a signal handler");
    }
    errno = saved;
}

static void *worker(void *arg)
{
    (void)arg;
    struct conn c = loopback_conn();
    my_fd = c.client;
    for (int i = 0; i < ROUNDS; i++) {
        int v = 1;
        socklen_t len = sizeof v;
        if (setsockopt(c.client, SOL_SOCKET, SO_GROUP_PRIORITY, &v, sizeof v) != 0)
            CHECK(0 && "setsockopt");
        if (getsockopt(c.client, SOL_SOCKET, SO_GROUP_PRIORITY, &v, &len) != 0 || v != 1)
            CHECK(0 && "getsockopt");
    }
    /* No signal may find the socket closed. */
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    my_fd = -1;
    close_conn(c);
    return NULL;
}

static void wave(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        SETUP(pthread_create(&t[i], NULL, worker, NULL) == 0);
    /* Signal the workers while they run (a worker that has finished has SIGUSR1
     * blocked; one that has exited is not signalled: ESRCH is fine). */
    for (int round = 0; round < 2000; round++)
        for (int i = 0; i < THREADS; i++)
            pthread_kill(t[i], SIGUSR1);
    for (int i = 0; i < THREADS; i++)
        SETUP(pthread_join(t[i], NULL) == 0);
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    SETUP(sigaction(SIGUSR1, &sa, NULL) == 0);
    wave();
    wave();
    printf("sets %ld gets %ld\n", 2L * THREADS * ROUNDS + atomic_load(&handled), 2L * THREADS * ROUNDS);
    harness_done();
}
