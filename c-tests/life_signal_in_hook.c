/*
 * life_signal_in_hook.c — a signal handled while the thread is inside one of the
 * library's hooks, made deterministic (run by tests/process_life.rs).
 *
 * The hooks read the clock (libc's clock_gettime, bound through the PLT, so this
 * program's own definition below is the one they call). Armed, it raises SIGUSR1
 * once, from inside a setsockopt hook on a SAN socket; the handler then sets and
 * reads a group option on another SAN socket. Its answers must be the ones it
 * gets anywhere else: set 0, read back what it set; and the interrupted call must
 * finish correctly too.
 */
#include "harness.h"

#include <signal.h>
#include <time.h>

static struct conn h;
static volatile sig_atomic_t armed, raised, ran;
static int set1, got1, set2, got2, wsp_code, wsp_got;

int clock_gettime(clockid_t id, struct timespec *ts)
{
    if (armed) {
        armed = 0;
        raised = 1;
        raise(SIGUSR1);
    }
    return (int)syscall(SYS_clock_gettime, id, ts);
}

static void on_usr1(int sig)
{
    (void)sig;
    int saved = errno;
    set1 = set_int(h.client, SOL_SOCKET, SO_GROUP_PRIORITY, 5);
    got1 = value_of(h.client, SOL_SOCKET, SO_GROUP_PRIORITY);
    set2 = set_int(h.client, WSD_SOL_SOCKET, SO_GROUP_PRIORITY, 6);
    got2 = value_of(h.client, WSD_SOL_SOCKET, SO_GROUP_PRIORITY);
    int v = 7, len = 4;
    wsp_code = WSPSetSockOpt(h.server, WSD_SOL_SOCKET, SO_GROUP_PRIORITY, (const char *)&v, 4,
                             &wsp_code);
    wsp_got = -1;
    if (WSPGetSockOpt(h.server, WSD_SOL_SOCKET, SO_GROUP_PRIORITY, (char *)&wsp_got, &len,
                      &v) != 0)
        wsp_got = -v;
    ran = 1;
    errno = saved;
}

int main(void)
{
    alarm(20); /* watchdog: SIGALRM's default action ends a hang */
    h = loopback_conn();
    struct conn m = loopback_conn();
    SETUP(signal(SIGUSR1, on_usr1) != SIG_ERR);

    armed = 1;
    CHECK_EQ(set_int(m.client, SOL_SOCKET, SO_GROUP_PRIORITY, 1), 0);
    armed = 0;
    if (!raised)
        fprintf(stderr, "the hook did not read the clock: this case needs another way in\n");
    CHECK(raised);
    CHECK(ran);
    /* What the handler got, inside the hook. */
    CHECK_EQ(set1, 0);
    CHECK_EQ(got1, 5);
    CHECK_EQ(set2, 0);
    CHECK_EQ(got2, 6);
    CHECK_EQ(wsp_code, 0);
    CHECK_EQ(wsp_got, 7);
    /* And afterwards, from the main program. */
    CHECK_EQ(value_of(m.client, SOL_SOCKET, SO_GROUP_PRIORITY), 1);
    CHECK_EQ(value_of(h.client, SOL_SOCKET, SO_GROUP_PRIORITY), 6);
    CHECK_EQ(value_of(h.server, SOL_SOCKET, SO_GROUP_PRIORITY), 7);
    close_conn(m);
    close_conn(h);
    harness_done();
}
