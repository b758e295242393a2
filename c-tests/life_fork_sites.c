/* A fork child's first setsockopt on a SAN socket records its call site (the
 * pid is part of the report row's key, so every site is new there) while
 * another thread of the parent was inside dl_iterate_phdr at the fork: the
 * loader's lock is held forever in the child. The library must find the
 * site's modules without that lock (issue 16's review). Exits 0 when the
 * child's call returned. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <link.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static int slow(struct dl_phdr_info *i, size_t s, void *d) {
    (void)i;
    (void)s;
    (void)d;
    usleep(200000);
    return 1;
}

static void *spin(void *p) {
    (void)p;
    for (;;)
        dl_iterate_phdr(slow, NULL);
    return NULL;
}

int main(void) {
    struct conn conn = loopback_conn();
    int c = conn.client;
    int one = 1;
    setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    pthread_t t;
    if (pthread_create(&t, NULL, spin, NULL))
        return 2;
    usleep(50000); /* not synchronisation: the thread spends 200 ms of every 200 ms in the lock */
    pid_t k = fork();
    if (k == 0) {
        alarm(10);
        _exit(setsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) == 0 ? 0 : 3);
    }
    int st;
    if (waitpid(k, &st, 0) != k)
        return 2;
    if (WIFSIGNALED(st)) {
        fprintf(stderr, "the fork child hung in setsockopt (signal %d)\n", WTERMSIG(st));
        return 1;
    }
    close_conn(conn);
    return WEXITSTATUS(st);
}
