/*
 * front_vfork.c — a fork child made while another thread's vfork child runs
 * (issue 17): the count of vfork children is copied into the fork child, which
 * is no vfork child itself, and must still load the engine at its first TCP
 * socket (the front asks the kernel whether the memory is shared). The same
 * binary runs twice:
 *
 *   with     under LD_PRELOAD=libwsd.so: the fork child has the engine
 *   without  without the library: it has none
 *
 * It is not linked with libwsd.
 */
#define HARNESS_NO_WSP
#include "harness.h"

#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int started[2], release[2];

/* Is the engine mapped in this process? */
static int engine_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int found = 0;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strstr(line, "libwsd_engine.so"))
            found = 1;
    fclose(f);
    return found;
}

/* A thread whose vfork child says it runs, then waits to be released (raw
 * system calls only: it runs in this process's memory). */
static void *vforker(void *arg)
{
    (void)arg;
    pid_t p = vfork();
    if (p == 0) {
        char b = 'v';
        syscall(SYS_write, started[1], &b, 1);
        syscall(SYS_read, release[0], &b, 1);
        syscall(SYS_exit, 0);
    }
    int status;
    waitpid(p, &status, 0);
    return NULL;
}

int main(int argc, char **argv)
{
    int with_library = argc > 1 && !strcmp(argv[1], "with");
    SETUP(pipe(started) == 0 && pipe(release) == 0);
    pthread_t t;
    SETUP(pthread_create(&t, NULL, vforker, NULL) == 0);
    char b;
    SETUP(read(started[0], &b, 1) == 1);

    /* The vfork child runs: fork, and let the fork child make a TCP socket. */
    pid_t c = fork();
    SETUP(c >= 0);
    if (c == 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        int mapped = engine_mapped();
        _exit(s >= 0 && mapped == with_library ? 0 : 10 + mapped);
    }
    int status;
    SETUP(waitpid(c, &status, 0) == c);
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), 0);

    SETUP(write(release[1], "r", 1) == 1);
    SETUP(pthread_join(t, NULL) == 0);
    harness_done();
}
