/*
 * bad_memory.c — buffers the provider cannot use (SPEC §2.2 row 5, §3): NULL,
 * (char*)1, a PROT_NONE page, an unmapped page, and a buffer whose tail crosses
 * into an unmapped page all answer EFAULT/WSAEFAULT, through the interposed calls
 * and the direct API alike. No signal handler is installed: a SIGSEGV kills the
 * program and fails the test.
 *
 * argv[1] "switch" (default mode) or "provider" (WSD_MODE=provider).
 */
#include "harness.h"

#define WSOL WSD_SOL_SOCKET

struct bad {
    const char *name;
    void *p;
};

static struct bad bad[5];
static int provider_mode;

static void make_bad_pointers(void)
{
    bad[0] = (struct bad){ "NULL", NULL };
    bad[1] = (struct bad){ "(char*)1", (void *)1 };
    bad[2] = (struct bad){ "PROT_NONE page", page_none() };
    bad[3] = (struct bad){ "unmapped page", page_unmapped() };
    bad[4] = (struct bad){ "tail crossing", tail_crossing(0) };
}

static int prio(int fd)
{
    return value_of(fd, SOL_SOCKET, SO_GROUP_PRIORITY);
}

/* setsockopt/WSPSetSockOpt of the provider options with unreadable optval. */
static void set_unreadable(int fd, int direct)
{
    static const int levels[] = { SOL_SOCKET, WSOL };
    static const int opts[] = { SO_GROUP_PRIORITY, SO_DEBUG };
    CHECK_EQ(set_int(fd, SOL_SOCKET, SO_GROUP_PRIORITY, 5), 0);
    for (int b = 0; b < 5; b++)
        for (int l = 0; l < 2; l++)
            for (int o = 0; o < 2; o++) {
                const char *what = bad[b].name;
                CHECK_EQ_IN(what, set_raw(fd, levels[l], opts[o], bad[b].p, 4), EFAULT);
                CHECK_EQ_IN(what, set_raw(fd, levels[l], opts[o], bad[b].p, 8), EFAULT);
                if (direct) {
                    CHECK_EQ_IN(what, wsp_set_raw(fd, levels[l], opts[o], bad[b].p, 4), WSAEFAULT);
                    CHECK_EQ_IN(what, wsp_set_raw(fd, levels[l], opts[o], bad[b].p, 64), WSAEFAULT);
                }
            }
    CHECK_EQ(prio(fd), 5);
    CHECK_EQ(value_of(fd, SOL_SOCKET, SO_DEBUG), 0);
}

/* What can be read is used: a read-only page, and an int at the very end of a
 * page with a larger optlen (only the option's 4 bytes are read). */
static void set_readable(int fd, int direct)
{
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY, page_readonly(9), 4), 0);
    CHECK_EQ(prio(fd), 9);
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY, last_int_of_page(12), 8), 0);
    CHECK_EQ(prio(fd), 12);
    CHECK_EQ(set_raw(fd, SOL_SOCKET, SO_GROUP_PRIORITY, last_int_of_page(-3), 4), EINVAL);
    if (direct) {
        CHECK_EQ(wsp_set_raw(fd, WSOL, SO_GROUP_PRIORITY, page_readonly(10), 4), 0);
        CHECK_EQ(prio(fd), 10);
        CHECK_EQ(wsp_set_raw(fd, WSOL, SO_GROUP_PRIORITY, last_int_of_page(13), 4096), 0);
        CHECK_EQ(prio(fd), 13);
    }
}

/* getsockopt/WSPGetSockOpt with unwritable optval or bad optlen. */
static void get_unwritable(int fd, int direct)
{
    void *bad_val[] = { NULL, (void *)1, page_none(), page_unmapped(), tail_crossing(0),
                        page_readonly(0) };
    const char *val_names[] = { "NULL", "(char*)1", "PROT_NONE page", "unmapped page",
                                "tail crossing", "read-only page" };
    void *bad_len[] = { NULL, (void *)1, page_none(), page_unmapped(), tail_crossing(4),
                        page_readonly(4) };
    for (int i = 0; i < 6; i++) {
        socklen_t len = 4;
        int wlen = 4, v = -1;
        const char *what = val_names[i];
        CHECK_EQ_IN(what, getsockopt(fd, SOL_SOCKET, SO_GROUP_PRIORITY, bad_val[i], &len), -1);
        CHECK_EQ_IN(what, errno, EFAULT);
        CHECK_EQ_IN(what, getsockopt(fd, WSOL, SO_GROUP_ID, bad_val[i], &len), -1);
        CHECK_EQ_IN(what, errno, EFAULT);
        CHECK_EQ_IN(what, getsockopt(fd, SOL_SOCKET, SO_DEBUG, &v, bad_len[i]), -1);
        CHECK_EQ_IN(what, errno, EFAULT);
        if (direct) {
            CHECK_EQ_IN(what, wsp_get_raw(fd, WSOL, SO_GROUP_PRIORITY, bad_val[i], &wlen), WSAEFAULT);
            CHECK_EQ_IN(what, wsp_get_raw(fd, WSOL, SO_GROUP_PRIORITY, &v, bad_len[i]), WSAEFAULT);
        }
    }
    CHECK_EQ(prio(fd), direct ? 13 : 12);
}

/* Options that are not the provider's: the kernel judges the memory in switch
 * mode; in provider mode the provider refuses the option first (row 4). */
static void other_options(int fd)
{
    int want = provider_mode ? ENOPROTOOPT : EFAULT;
    for (int b = 0; b < 5; b++) {
        CHECK_EQ_IN(bad[b].name, set_raw(fd, SOL_SOCKET, SO_KEEPALIVE, bad[b].p, 4), want);
        CHECK_EQ_IN(bad[b].name, set_raw(fd, IPPROTO_TCP, TCP_NODELAY, bad[b].p, 4), want);
    }
    socklen_t len = 4;
    CHECK_EQ(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, bad[2].p, &len), -1);
    CHECK_EQ(errno, EFAULT);
}

int main(int argc, char **argv)
{
    provider_mode = arg_is(argc, argv, "provider");
    SETUP(provider_mode || arg_is(argc, argv, "switch"));
    make_bad_pointers();

    struct conn c = loopback_conn();
    int fds[] = { c.client, c.server };
    for (int i = 0; i < 2; i++) {
        set_unreadable(fds[i], 1);
        set_readable(fds[i], 1);
        get_unwritable(fds[i], 1);
        other_options(fds[i]);
    }
    /* A candidate: the switch answers, and judges the memory the same way. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(s >= 0);
    set_unreadable(s, 0);
    set_readable(s, 0);
    get_unwritable(s, 0);

    close(s);
    close_conn(c);
    harness_done();
}
