/*
 * wsd.h — the C face of libwsd.so: the SAN service provider's WSPSetSockOpt and
 * WSPGetSockOpt, the Winsock codes they answer, and helpers to map those codes to
 * Linux errno values. See SPEC §2, §3 and §6.2.
 *
 * Link with -lwsd, or run under LD_PRELOAD=libwsd.so. The numbers below are the
 * Winsock ones; tests/header.rs proves they equal the library's own tables.
 */
#ifndef WSD_H
#define WSD_H

#ifdef __cplusplus
extern "C" {
#endif

/* A socket is its file descriptor. */
typedef int SOCKET;
#define SOCKET_ERROR (-1)

/* The codes the provider answers (Winsock numbers). */
#define WSAEFAULT      10014
#define WSAEINVAL      10022
#define WSAENOTSOCK    10038
#define WSAENOPROTOOPT 10042
#define WSAENETDOWN    10050
#define WSAENETRESET   10052
#define WSAENOTCONN    10057

/*
 * Winsock-numbered levels and options. SOL_SOCKET, SO_DEBUG, IPPROTO_TCP and
 * TCP_NODELAY carry a WSD_ prefix so as not to clash with <sys/socket.h>; the
 * provider accepts both numberings (WSD_SOL_SOCKET 0xffff and Linux SOL_SOCKET 1).
 */
#define WSD_SOL_SOCKET    0xffff
#define WSD_SO_DEBUG      0x0001
#define SO_GROUP_ID       0x2001
#define SO_GROUP_PRIORITY 0x2002
#define WSD_IPPROTO_TCP   6
#define WSD_TCP_NODELAY   0x0001

/*
 * Sets an option on socket s. Returns 0, or SOCKET_ERROR with the code at
 * *lpErrno. errno is left as it was. SO_DEBUG (BOOL) and SO_GROUP_PRIORITY (int,
 * nonnegative) are the options a SAN provider supports.
 */
int WSPSetSockOpt(SOCKET s, int level, int optname, const char *optval, int optlen, int *lpErrno);

/*
 * Reads an option of socket s: SO_DEBUG (0 or 1), SO_GROUP_PRIORITY, SO_GROUP_ID
 * (always 0). On success writes the value and sets *optlen to its size; if
 * *optlen is too small, answers WSAEFAULT and sets *optlen to the size needed.
 */
int WSPGetSockOpt(SOCKET s, int level, int optname, char *optval, int *optlen, int *lpErrno);

/* The Linux errno for a WSAE* code above, or 0 for any other number. */
int wsd_errno_from_wsa(int wsa);
/* The WSAE* code for a Linux errno, or 0 if no provider code maps to it. */
int wsd_wsa_from_errno(int err);
/* A static description of a WSAE* code ("Unknown error code." for others). */
const char *wsd_strerror(int wsa);
/* The library's self-check of what no socket shows (a failure inside a hook is
 * recovered from, falling back to libc): 0 when it holds. */
int wsd_self_test(void);
/* How many of the calling thread's setsockopt/getsockopt calls on SAN sockets
 * were answered from its memo of its last such call (the fast path; README,
 * "Design and dependencies"). */
unsigned long long wsd_memo_hits(void);

#ifdef __cplusplus
}
#endif

#endif /* WSD_H */
