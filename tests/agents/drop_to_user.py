# Run as root under LD_PRELOAD (tests/users.rs): drops to the user UID and group
# GID (no supplementary groups) before opening any TCP socket, as a server that
# drops privileges does, then makes a loopback connection and sets the provider
# option SO_GROUP_PRIORITY (Winsock number 0x2002) on the client: a SAN socket
# accepts it, plain TCP answers ENOPROTOOPT.
#
# Usage: python3 -c "$(cat drop_to_user.py)" UID GID hold|probe
# Prints "PID UID RESULT" (RESULT: "san" or the errno name); with "hold", keeps the
# sockets open until standard input closes.
import errno
import os
import socket
import sys

uid, gid, hold = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "hold"
os.setgroups([])
os.setgid(gid)
os.setuid(uid)

srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
c = socket.socket()
c.connect(srv.getsockname())
a, _ = srv.accept()
try:
    c.setsockopt(socket.SOL_SOCKET, 0x2002, 3)
    result = "san"
except OSError as e:
    result = errno.errorcode[e.errno]
print(os.getpid(), os.getuid(), result, flush=True)
if hold:
    sys.stdin.read()
