/*
 * front_recv.c — receiving messages before the engine runs (issue 17): the
 * front makes recvmsg/recvmmsg's real call first and looks at the message only
 * once the kernel filled it in, so a bad pointer is answered EFAULT (or
 * whatever the kernel says) exactly as without the library, never a fault; and
 * the engine is loaded only when a message came with control data. The same
 * binary runs twice:
 *
 *   with     under LD_PRELOAD=libwsd.so
 *   without  without the library: the kernel baseline
 *
 * It is not linked with libwsd, so the "without" run really is the bare kernel.
 */
#define HARNESS_NO_WSP
#include "harness.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>

static int with_library;

/* Is the engine mapped in this process? */
static int engine_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    SETUP(f != NULL);
    while (fgets(line, sizeof line, f))
        if (strstr(line, "libwsd_engine.so"))
            found = 1;
    fclose(f);
    return found;
}

/* errno after `rc` (-1 expected), 0 if the call succeeded. */
#define ERRNO_OF(rc) ((rc) < 0 ? errno : 0)

int main(int argc, char **argv)
{
    with_library = argc > 1 && !strcmp(argv[1], "with");
    int sv[2];
    SETUP(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == 0);

    /* A message pointer the kernel cannot read: EFAULT, not a fault. */
    errno = 0;
    CHECK_EQ(ERRNO_OF(recvmsg(sv[0], (struct msghdr *)0x10, MSG_DONTWAIT)), EFAULT);

    /* recvmmsg asked for more messages than the array the program has, at the
     * end of a page followed by none: the kernel stops at the first it cannot
     * receive (nothing is waiting: EAGAIN), and so must the library. */
    long page = sysconf(_SC_PAGESIZE);
    char *two = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    SETUP(two != MAP_FAILED);
    SETUP(munmap(two + page, page) == 0);
    struct mmsghdr *v = (struct mmsghdr *)(two + page) - 2;
    memset(v, 0, 2 * sizeof *v);
    CHECK_EQ(ERRNO_OF(recvmmsg(sv[0], v, 1000, MSG_DONTWAIT, NULL)), EAGAIN);

    /* Room for control data, but no message: no engine yet. */
    char data[8];
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = { data, sizeof data };
    struct msghdr m = { 0 };
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control.buf;
    m.msg_controllen = sizeof control.buf;
    CHECK_EQ(ERRNO_OF(recvmsg(sv[0], &m, MSG_DONTWAIT)), EAGAIN);
    CHECK_EQ(engine_mapped(), 0);

    /* A message without control data: still no engine. */
    SETUP(send(sv[1], "a", 1, 0) == 1);
    m.msg_controllen = sizeof control.buf;
    CHECK_EQ(recvmsg(sv[0], &m, 0), 1);
    CHECK_EQ((long)m.msg_controllen, 0L);
    CHECK_EQ(engine_mapped(), 0);

    /* A descriptor passed: it arrives whole, and the engine (with the library)
     * is loaded to look at it. */
    int p[2];
    SETUP(pipe(p) == 0);
    struct msghdr out = { 0 };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } oc;
    memset(&oc, 0, sizeof oc);
    struct iovec oiov = { "b", 1 };
    out.msg_iov = &oiov;
    out.msg_iovlen = 1;
    out.msg_control = oc.buf;
    out.msg_controllen = sizeof oc.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&out);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &p[1], sizeof(int));
    SETUP(sendmsg(sv[1], &out, 0) == 1);
    m.msg_controllen = sizeof control.buf;
    CHECK_EQ(recvmsg(sv[0], &m, 0), 1);
    struct cmsghdr *got = CMSG_FIRSTHDR(&m);
    CHECK(got != NULL && got->cmsg_type == SCM_RIGHTS);
    int passed = -1;
    if (got)
        memcpy(&passed, CMSG_DATA(got), sizeof passed);
    CHECK_EQ(write(passed, "x", 1), 1);
    CHECK_EQ(read(p[0], data, 1), 1);
    CHECK_EQ(engine_mapped(), with_library);

    close(passed);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
    harness_done();
}
