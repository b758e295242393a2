/*
 * sweep.c — the hardening sweep (issue 6, point 1), run by tests/sweep.rs.
 *
 * Drives WSPSetSockOpt, WSPGetSockOpt and the interposed setsockopt/getsockopt
 * over the cross product of
 *   descriptor x level x optname x optval x optlen
 * and prints one line per call with the inputs (symbolic kinds and numbers) and
 * the answer. It checks nothing itself: tests/sweep.rs compares every line with
 * the model (src/model) or, where the kernel answers, with the kernel's own
 * answer, which this program gets by making the same call again as a raw system
 * call (syscall(SYS_setsockopt/SYS_getsockopt, ...)) on the same descriptor with
 * the same arguments.
 *
 * No signal handler is installed: a SIGSEGV kills the program and fails the test.
 *
 * Lines (space-separated key=value after the call's name):
 *   wset fd=K lvl=L opt=O val=V len=N rc=R err=CODE keep=E
 *   wget fd=K lvl=L opt=O val=V len=N rc=R err=CODE olen=M keep=E
 *   set  fd=K lvl=L opt=O val=V len=N rc=R err=ERRNO krc=R kerr=ERRNO
 *   get  fd=K lvl=L opt=O val=V len=N rc=R err=ERRNO olen=M krc=R kerr=ERRNO kolen=M
 * err is the code at *lpErrno (direct API; left at -7 if never written) or errno
 * (0 when rc is not -1). keep is 1 when the direct API left errno as it was.
 * olen is *optlen after the call (it held `len` before). The last line is
 *   cases N
 * with the number of lines above it.
 *
 * The direct API and the interposed calls use separate descriptors: a direct call
 * on a candidate makes it the provider's own SAN socket (SPEC §2: "its endpoint is
 * created in the SAN segment on first use"), and the interposed sweep needs its
 * candidate to stay one.
 */
#include "harness.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>

/* ---- the axes ----------------------------------------------------------- */

static const int levels[] = { 0xffff, 1, 6, 0, 41, -1, 0x8000, INT_MIN };
static const int optnames[] = { 1, 0x2001, 0x2002, 9, 0, -1, INT_MAX, 0x2003, 0x2004, 0x2005 };
static const int optlens[] = { INT_MIN, -1, 0, 1, 3, 4, 5, 8, 4096, INT_MAX };

#define N_LEVELS (int)(sizeof levels / sizeof levels[0])
#define N_OPTNAMES (int)(sizeof optnames / sizeof optnames[0])
#define N_OPTLENS (int)(sizeof optlens / sizeof optlens[0])

enum val_kind { V_VALID, V_NULL, V_ONE, V_PROT_NONE, V_UNMAPPED, V_TAIL, V_READONLY, N_VALS };
static const char *const val_names[N_VALS] = { "valid", "null", "one", "protnone",
                                               "unmapped", "tail", "readonly" };

enum fd_kind { F_SAN, F_CANDIDATE, F_UDP, F_PIPE, F_CLOSED, F_MINUS_ONE, F_BEYOND, N_FDS };
static const char *const fd_names[N_FDS] = { "san", "candidate", "udp", "pipe",
                                             "closed", "minus1", "beyond" };

/* The value every readable optval holds. */
#define VALUE 1

/* The "valid" optval: an int on the stack (main's frame, live during every call),
 * at the start of a buffer with room to spare, so that no kernel answer to a large
 * optlen can write past what is ours. Reset to VALUE before every call. */
struct valid_buf {
    int value;
    char room[8192];
};

static void *bad_val[N_VALS];
static long long cases;

static void *optval_of(int v, struct valid_buf *valid)
{
    if (v == V_VALID) {
        valid->value = VALUE;
        return &valid->value;
    }
    return bad_val[v];
}

/* ---- the four calls ------------------------------------------------------ */

#define ERRNO_SENTINEL 4242
#define CODE_SENTINEL (-7)

static void print_inputs(const char *call, int f, int level, int opt, int v, int len)
{
    printf("%s fd=%s lvl=%d opt=%d val=%s len=%d", call, fd_names[f], level, opt, val_names[v], len);
}

static void direct_set(int f, int fd, int level, int opt, int v, int len, struct valid_buf *valid)
{
    const char *optval = optval_of(v, valid);
    int code = CODE_SENTINEL;
    errno = ERRNO_SENTINEL;
    int rc = WSPSetSockOpt(fd, level, opt, optval, len, &code);
    int keep = errno == ERRNO_SENTINEL;
    print_inputs("wset", f, level, opt, v, len);
    printf(" rc=%d err=%d keep=%d\n", rc, code, keep);
    cases++;
}

static void direct_get(int f, int fd, int level, int opt, int v, int len, struct valid_buf *valid)
{
    char *optval = optval_of(v, valid);
    int code = CODE_SENTINEL, olen = len;
    errno = ERRNO_SENTINEL;
    int rc = WSPGetSockOpt(fd, level, opt, optval, &olen, &code);
    int keep = errno == ERRNO_SENTINEL;
    print_inputs("wget", f, level, opt, v, len);
    printf(" rc=%d err=%d olen=%d keep=%d\n", rc, code, olen, keep);
    cases++;
}

static void interposed_set(int f, int fd, int level, int opt, int v, int len, struct valid_buf *valid)
{
    errno = 0;
    int rc = setsockopt(fd, level, opt, optval_of(v, valid), (socklen_t)len);
    int err = rc == -1 ? errno : 0;
    errno = 0;
    long krc = syscall(SYS_setsockopt, (long)fd, (long)level, (long)opt,
                       optval_of(v, valid), (long)len);
    int kerr = krc == -1 ? errno : 0;
    print_inputs("set", f, level, opt, v, len);
    printf(" rc=%d err=%d krc=%ld kerr=%d\n", rc, err, krc, kerr);
    cases++;
}

static void interposed_get(int f, int fd, int level, int opt, int v, int len, struct valid_buf *valid)
{
    socklen_t olen = (socklen_t)len;
    errno = 0;
    int rc = getsockopt(fd, level, opt, optval_of(v, valid), &olen);
    int err = rc == -1 ? errno : 0;
    socklen_t kolen = (socklen_t)len;
    errno = 0;
    long krc = syscall(SYS_getsockopt, (long)fd, (long)level, (long)opt,
                       optval_of(v, valid), &kolen);
    int kerr = krc == -1 ? errno : 0;
    print_inputs("get", f, level, opt, v, len);
    printf(" rc=%d err=%d olen=%d krc=%ld kerr=%d kolen=%d\n", rc, err, (int)olen, krc, kerr,
           (int)kolen);
    cases++;
}

/* ---- the descriptors ----------------------------------------------------- */

/* One descriptor of each kind. `shared` holds the kinds that name no open file
 * (closed, -1, beyond the limit), the same numbers for both sets. */
static void open_set(int fds[N_FDS], const int shared[N_FDS], struct conn *c)
{
    *c = loopback_conn();
    fds[F_SAN] = c->client;
    fds[F_CANDIDATE] = socket(AF_INET, SOCK_STREAM, 0);
    SETUP(fds[F_CANDIDATE] >= 0);
    fds[F_UDP] = socket(AF_INET, SOCK_DGRAM, 0);
    SETUP(fds[F_UDP] >= 0);
    int p[2];
    SETUP(pipe(p) == 0);
    fds[F_PIPE] = p[0];
    fds[F_CLOSED] = shared[F_CLOSED];
    fds[F_MINUS_ONE] = shared[F_MINUS_ONE];
    fds[F_BEYOND] = shared[F_BEYOND];
}

int main(void)
{
    static char outbuf[1 << 20];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);

    bad_val[V_NULL] = NULL;
    bad_val[V_ONE] = (void *)1;
    bad_val[V_PROT_NONE] = page_none();
    bad_val[V_UNMAPPED] = page_unmapped();
    bad_val[V_TAIL] = tail_crossing(VALUE);
    bad_val[V_READONLY] = page_readonly(VALUE);

    int shared[N_FDS] = { 0 };
    struct rlimit rl;
    SETUP(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    shared[F_BEYOND] = rl.rlim_cur >= (rlim_t)INT_MAX ? INT_MAX : (int)rl.rlim_cur;
    shared[F_MINUS_ONE] = -1;
    /* A closed descriptor far above the ones in use, so that nothing opened later
     * (by this program or the library) takes its number. */
    int spare[2];
    SETUP(pipe(spare) == 0);
    int high = shared[F_BEYOND] > 1000 ? 500 : shared[F_BEYOND] / 2;
    shared[F_CLOSED] = fcntl(spare[0], F_DUPFD, high);
    SETUP(shared[F_CLOSED] >= high);
    SETUP(close(shared[F_CLOSED]) == 0);
    close(spare[0]);
    close(spare[1]);

    int direct[N_FDS], interposed[N_FDS];
    struct conn direct_conn, interposed_conn;
    open_set(direct, shared, &direct_conn);
    open_set(interposed, shared, &interposed_conn);

    struct valid_buf valid;
    memset(&valid, 0, sizeof valid);

    for (int f = 0; f < N_FDS; f++)
        for (int l = 0; l < N_LEVELS; l++)
            for (int o = 0; o < N_OPTNAMES; o++)
                for (int v = 0; v < N_VALS; v++)
                    for (int n = 0; n < N_OPTLENS; n++) {
                        int level = levels[l], opt = optnames[o], len = optlens[n];
                        direct_set(f, direct[f], level, opt, v, len, &valid);
                        direct_get(f, direct[f], level, opt, v, len, &valid);
                        interposed_set(f, interposed[f], level, opt, v, len, &valid);
                        interposed_get(f, interposed[f], level, opt, v, len, &valid);
                    }

    printf("cases %lld\n", cases);
    fflush(stdout);
    close_conn(direct_conn);
    close_conn(interposed_conn);
    return 0;
}
