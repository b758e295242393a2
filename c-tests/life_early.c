/*
 * life_early.c — a helper preloaded beside libwsd.so (by tests/process_life.rs)
 * whose constructor starts a thread that makes loopback connections and sets
 * options at once, possibly before libwsd.so's own constructor has run. Until
 * life_constructors.c's main() calls life_early_finish(), a socket may be a SAN
 * socket or (made before the library started) a plain one the kernel answers,
 * but each must answer consistently; after that every socket must be a SAN
 * socket.
 */
#include "harness.h"

#include <pthread.h>

#define STRICT_ROUNDS 200

static pthread_t thread;
static int started, finishing, ready_at_constructor;
static long loose_rounds, strict_rounds, san_sockets, plain_sockets;

static int one_socket(int fd, int value, int strict)
{
    int r = set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, value);
    if (r == 0) {
        CHECK_EQ(value_of(fd, SOL_SOCKET, SO_GROUP_PRIORITY), value);
        CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, -1), EINVAL);
        return 1;
    }
    CHECK(!strict);
    CHECK_EQ(r, ENOPROTOOPT);
    int v;
    CHECK_EQ(get_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, &v), ENOPROTOOPT);
    return 0;
}

static void *worker(void *arg)
{
    (void)arg;
    for (long i = 0;; i++) {
        int strict = __atomic_load_n(&finishing, __ATOMIC_ACQUIRE);
        if (strict && strict_rounds >= STRICT_ROUNDS)
            break;
        struct conn c = loopback_conn();
        int san = one_socket(c.client, 7000 + (int)(i % 1000), strict);
        san += one_socket(c.server, 9000 + (int)(i % 1000), strict);
        char b = 0;
        CHECK_EQ(write(c.client, "e", 1), 1);
        CHECK_EQ(read(c.server, &b, 1), 1);
        close_conn(c);
        san_sockets += san;
        plain_sockets += 2 - san;
        if (strict)
            strict_rounds++;
        else
            loose_rounds++;
    }
    return NULL;
}

__attribute__((constructor)) static void early(void)
{
    if (!getenv("LIFE_EARLY_THREAD"))
        return;
    /* Has libwsd.so started? A candidate's group option is answered by the switch
     * once it has, by the kernel (ENOPROTOOPT) before. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(s >= 0);
    ready_at_constructor = set_int(s, SOL_SOCKET, SO_GROUP_PRIORITY, 1) == 0;
    close(s);
    SETUP(pthread_create(&thread, NULL, worker, NULL) == 0);
    started = 1;
}

/* Called by life_constructors.c's main(): the thread does its strict rounds and
 * is joined. Returns the number of failed checks (-1 if no thread was started). */
int life_early_finish(long *loose, long *strict, long *san, long *plain, int *ready)
{
    if (!started)
        return -1;
    __atomic_store_n(&finishing, 1, __ATOMIC_RELEASE);
    SETUP(pthread_join(thread, NULL) == 0);
    *loose = loose_rounds;
    *strict = strict_rounds;
    *san = san_sockets;
    *plain = plain_sockets;
    *ready = ready_at_constructor;
    return __atomic_load_n(&harness_failures, __ATOMIC_RELAXED);
}
