/*
 * harness.h — the small shared harness of the C test programs in c-tests/.
 *
 * CHECK/CHECK_EQ count checks and print `file:line: expression (got X, want Y)` on
 * failure; harness_done() prints `N checks passed` and exits 1 if any failed.
 * Counters are atomic, so threads may check too. Helpers make loopback TCP
 * connections (port 0 only) and pages that cannot be read or written.
 *
 * Define HARNESS_NO_WSP before including to build without libwsd (the kernel
 * baseline run of untouched.c).
 */
#ifndef HARNESS_H
#define HARNESS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef HARNESS_NO_WSP
#include "wsd.h"
#endif

static int harness_checks;
static int harness_failures;
static const char *harness_who = ""; /* prefixes the verdict, e.g. "child: " */

static inline void harness_count(int ok)
{
    __atomic_fetch_add(&harness_checks, 1, __ATOMIC_RELAXED);
    if (!ok)
        __atomic_fetch_add(&harness_failures, 1, __ATOMIC_RELAXED);
}

#define CHECK(expr)                                                              \
    do {                                                                         \
        int ok_ = !!(expr);                                                      \
        harness_count(ok_);                                                      \
        if (!ok_)                                                                \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #expr); \
    } while (0)

#define CHECK_EQ(got, want)                                                      \
    do {                                                                         \
        long long g_ = (long long)(got), w_ = (long long)(want);                 \
        harness_count(g_ == w_);                                                 \
        if (g_ != w_)                                                            \
            fprintf(stderr, "%s:%d: %s == %s (got %lld, want %lld)\n", __FILE__, \
                    __LINE__, #got, #want, g_, w_);                              \
    } while (0)

/* CHECK_EQ that also names the case (a string) it was checking. */
#define CHECK_EQ_IN(what, got, want)                                             \
    do {                                                                         \
        long long g_ = (long long)(got), w_ = (long long)(want);                 \
        harness_count(g_ == w_);                                                 \
        if (g_ != w_)                                                            \
            fprintf(stderr, "%s:%d: [%s] %s == %s (got %lld, want %lld)\n",      \
                    __FILE__, __LINE__, (what), #got, #want, g_, w_);            \
    } while (0)

/* A failure of the test's own set-up (not of the library): stop at once. */
#define SETUP(expr)                                                              \
    do {                                                                         \
        if (!(expr)) {                                                           \
            fprintf(stderr, "%s:%d: set-up failed: %s (errno %d: %s)\n", __FILE__, \
                    __LINE__, #expr, errno, strerror(errno));                    \
            exit(2);                                                             \
        }                                                                        \
    } while (0)

static inline _Noreturn void harness_done(void)
{
    int checks = __atomic_load_n(&harness_checks, __ATOMIC_RELAXED);
    int failed = __atomic_load_n(&harness_failures, __ATOMIC_RELAXED);
    if (failed) {
        printf("%s%d of %d checks failed\n", harness_who, failed, checks);
        fflush(stdout);
        exit(1);
    }
    printf("%s%d checks passed\n", harness_who, checks);
    fflush(stdout);
    exit(0);
}

/* Is argv[1] equal to `mode`? */
static inline int arg_is(int argc, char **argv, const char *mode)
{
    return argc > 1 && strcmp(argv[1], mode) == 0;
}

/* ---- sockets ------------------------------------------------------------ */

struct conn {
    int listener, client, server;
};

/* Binds `fd` to `ip`, port 0; the address it got goes to *addr. */
static inline void bind_to(int fd, const char *ip, struct sockaddr_in *addr)
{
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    SETUP(inet_pton(AF_INET, ip, &addr->sin_addr) == 1);
    SETUP(bind(fd, (struct sockaddr *)addr, sizeof *addr) == 0);
    socklen_t len = sizeof *addr;
    SETUP(getsockname(fd, (struct sockaddr *)addr, &len) == 0);
}

/* A TCP listener bound to `ip`, port 0. Its address goes to *addr. */
static inline int listener_on(const char *ip, struct sockaddr_in *addr)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(l >= 0);
    bind_to(l, ip, addr);
    SETUP(listen(l, 16) == 0);
    return l;
}

static inline void connect_to(int fd, const struct sockaddr_in *addr)
{
    SETUP(connect(fd, (const struct sockaddr *)addr, sizeof *addr) == 0);
}

static inline int accept_one(int listener)
{
    int s = accept(listener, NULL, NULL);
    SETUP(s >= 0);
    return s;
}

/* listener on 127.0.0.1:0, a client connected to it, and the accepted end. */
static inline struct conn loopback_conn(void)
{
    struct sockaddr_in addr;
    struct conn c;
    c.listener = listener_on("127.0.0.1", &addr);
    c.client = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(c.client >= 0);
    connect_to(c.client, &addr);
    c.server = accept_one(c.listener);
    return c;
}

/* Runs `check` on each socket of `c`: the client, the accepted end, the listener. */
static inline void each_socket_of(struct conn c, void (*check)(int fd))
{
    check(c.client);
    check(c.server);
    check(c.listener);
}

static inline void close_conn(struct conn c)
{
    close(c.client);
    close(c.server);
    close(c.listener);
}

/* setsockopt of an int: 0, or the errno of a -1 (any other result is -1000). */
static inline int set_int(int fd, int level, int opt, int value)
{
    int r = setsockopt(fd, level, opt, &value, sizeof value);
    return r == 0 ? 0 : r == -1 ? errno : -1000;
}

/* setsockopt with an explicit optval/optlen: 0 or errno as set_int. */
static inline int set_raw(int fd, int level, int opt, const void *val, socklen_t len)
{
    int r = setsockopt(fd, level, opt, val, len);
    return r == 0 ? 0 : r == -1 ? errno : -1000;
}

/* getsockopt of an int into *out: 0 or errno. A success that does not report
 * 4 bytes is -1001. */
static inline int get_int(int fd, int level, int opt, int *out)
{
    int v = -12345;
    socklen_t len = sizeof v;
    int r = getsockopt(fd, level, opt, &v, &len);
    if (r == -1)
        return errno;
    if (r != 0)
        return -1000;
    if (len != sizeof v)
        return -1001;
    *out = v;
    return 0;
}

/* The value of an int option, or -777 when getsockopt fails (so a CHECK_EQ on
 * the value fails visibly). */
static inline int value_of(int fd, int level, int opt)
{
    int v = -777;
    return get_int(fd, level, opt, &v) == 0 ? v : -777;
}

/* The same two calls made straight to the kernel, bypassing libc and therefore
 * any interposer: the kernel's own answer. */
static inline int kernel_set_raw(int fd, int level, int opt, const void *val, socklen_t len)
{
    long r = syscall(SYS_setsockopt, fd, level, opt, val, len);
    return r == 0 ? 0 : r == -1 ? errno : -1000;
}

static inline int kernel_set_int(int fd, int level, int opt, int value)
{
    return kernel_set_raw(fd, level, opt, &value, sizeof value);
}

/* The kernel's getsockopt of an int: 0 or errno. */
static inline int kernel_get_int(int fd, int level, int opt)
{
    int v;
    socklen_t len = sizeof v;
    long r = syscall(SYS_getsockopt, fd, level, opt, &v, &len);
    return r == 0 ? 0 : r == -1 ? errno : -1000;
}

static inline int kernel_value_of(int fd, int level, int opt)
{
    int v = -12345;
    socklen_t len = sizeof v;
    long r = syscall(SYS_getsockopt, fd, level, opt, &v, &len);
    return r == 0 && len == sizeof v ? v : -777;
}

/* ---- the provider, called directly ------------------------------------- */

#ifndef HARNESS_NO_WSP
#define ERRNO_SENTINEL 4242

/* WSPSetSockOpt of an int: 0, or the code at *lpErrno. Also checks the contract
 * every call keeps: SOCKET_ERROR on failure and errno left alone. */
static inline int wsp_set_raw(int fd, int level, int opt, const void *val, int len)
{
    int code = -1;
    errno = ERRNO_SENTINEL;
    int r = WSPSetSockOpt(fd, level, opt, (const char *)val, len, &code);
    CHECK_EQ(errno, ERRNO_SENTINEL);
    if (r == 0)
        return 0;
    CHECK_EQ(r, SOCKET_ERROR);
    return code;
}

static inline int wsp_set(int fd, int level, int opt, int value)
{
    return wsp_set_raw(fd, level, opt, &value, sizeof value);
}

/* WSPGetSockOpt with an explicit optval/optlen: 0 or the code. */
static inline int wsp_get_raw(int fd, int level, int opt, void *val, int *len)
{
    int code = -1;
    errno = ERRNO_SENTINEL;
    int r = WSPGetSockOpt(fd, level, opt, (char *)val, len, &code);
    CHECK_EQ(errno, ERRNO_SENTINEL);
    if (r == 0)
        return 0;
    CHECK_EQ(r, SOCKET_ERROR);
    return code;
}

/* The provider's value of an int option, or -777 when it refuses. Checks that
 * *optlen comes back as 4. */
static inline int wsp_value_of(int fd, int level, int opt)
{
    int v = -12345, len = sizeof v;
    if (wsp_get_raw(fd, level, opt, &v, &len) != 0)
        return -777;
    CHECK_EQ(len, 4);
    return v;
}
#endif

/* ---- memory that cannot be used ----------------------------------------- */

static inline size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static inline char *map_pages(size_t n)
{
    void *p = mmap(NULL, n * page_size(), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    SETUP(p != MAP_FAILED);
    return p;
}

/* `n` readable, writable pages far below the area where mmap places mappings
 * (it fills the address space from the top down), each call at a fresh spot with
 * unmapped space around it. A hole made there stays a hole: no later allocation,
 * ours or the library's, lands in it. */
static inline char *map_far(size_t n)
{
    static uintptr_t next = (uintptr_t)1 << 44; /* 16 TiB */
    for (;;) {
        void *want = (void *)next;
        next += 64 * page_size();
        void *p = mmap(want, n * page_size(), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == want)
            return p;
        SETUP(p == MAP_FAILED && errno == EEXIST);
    }
}

/* A mapped page that can be neither read nor written. */
static inline void *page_none(void)
{
    char *p = map_pages(1);
    SETUP(mprotect(p, page_size(), PROT_NONE) == 0);
    return p;
}

/* The address of a page that is not mapped (mapped, then unmapped). */
static inline void *page_unmapped(void)
{
    char *p = map_far(1);
    SETUP(munmap(p, page_size()) == 0);
    return p;
}

/* A pointer 2 bytes before the end of a readable, writable page whose next page is
 * unmapped: a 4-byte access there crosses into the hole. `value` fills the page. */
static inline char *tail_crossing(int value)
{
    char *p = map_far(2);
    memset(p, value, page_size());
    SETUP(munmap(p + page_size(), page_size()) == 0);
    return p + page_size() - 2;
}

/* Like tail_crossing, but 4 bytes before the end: an int fits, anything more
 * crosses. The int there is `value`. */
static inline char *last_int_of_page(int value)
{
    char *p = map_far(2);
    SETUP(munmap(p + page_size(), page_size()) == 0);
    char *q = p + page_size() - sizeof(int);
    memcpy(q, &value, sizeof value);
    return q;
}

/* A read-only page whose first int is `value`. */
static inline void *page_readonly(int value)
{
    char *p = map_pages(1);
    memcpy(p, &value, sizeof value);
    SETUP(mprotect(p, page_size(), PROT_READ) == 0);
    return p;
}

#endif /* HARNESS_H */
