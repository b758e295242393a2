#!/usr/bin/env python3
"""A SAN test agent: one end of a loopback TCP connection, driven line by line.

    san_agent.py server [ADDR]        listen on ADDR (default 127.0.0.1) port 0, accept one connection
    san_agent.py client PORT [ADDR]   connect to ADDR:PORT (default 127.0.0.1)

It prints "ready PID LOCAL_PORT PEER_PORT FD" once connected, then answers each
command read from standard input with one line:

    set OPT VALUE     setsockopt(SOL_SOCKET, OPT, VALUE)       -> ok | ERRNO_NAME
    get OPT           getsockopt(SOL_SOCKET, OPT)              -> VALUE | ERRNO_NAME
    nodelay           setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)  -> ok | ERRNO_NAME
    until ERRNO_NAME  repeat `set 0x2002 1` until it answers ERRNO_NAME (at most 20 s)
    abort             SO_LINGER {on, 0 s}, then close          -> ok
    fork              fork a child that holds the socket until its stdin (a pipe) closes -> child PID
    unfork            let that child exit and wait for it       -> ok
    exec              exec this agent again on the same descriptor ("fd N")
    exit
OPT and VALUE accept Python integer literals (0x2002, -1).
"""
import errno
import os
import socket
import struct
import sys
import time


def name(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def serve(conn):
    child = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        cmd, args = words[0], [int(w, 0) for w in words[1:] if w[0].isdigit() or w[0] == "-"]
        try:
            if cmd == "set":
                conn.setsockopt(socket.SOL_SOCKET, args[0], args[1])
                reply = "ok"
            elif cmd == "get":
                reply = str(conn.getsockopt(socket.SOL_SOCKET, args[0]))
            elif cmd == "nodelay":
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                reply = "ok"
            elif cmd == "until":
                want, deadline, reply = words[1], time.monotonic() + 20, "timeout"
                while time.monotonic() < deadline:
                    try:
                        conn.setsockopt(socket.SOL_SOCKET, 0x2002, 1)
                    except OSError as e:
                        if name(e) == want:
                            reply = want
                            break
            elif cmd == "abort":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
                reply = "ok"
            elif cmd == "fork":
                r, w = os.pipe()
                pid = os.fork()
                if pid == 0:
                    os.close(w)
                    os.read(r, 1)
                    os._exit(0)
                os.close(r)
                child = (pid, w)
                reply = str(pid)
            elif cmd == "unfork":
                os.close(child[1])
                os.waitpid(child[0], 0)
                reply = "ok"
            elif cmd == "exec":
                sys.stdout.flush()
                here = os.path.dirname(os.path.abspath(__file__))
                os.set_inheritable(conn.fileno(), True)
                os.execvp(sys.executable, [sys.executable, os.path.join(here, "san_agent.py"), "fd", str(conn.fileno())])
            elif cmd == "exit":
                return
            else:
                reply = "unknown"
        except OSError as e:
            reply = name(e)
        print(reply, flush=True)


def main():
    role = sys.argv[1]
    if role == "server":
        lst = socket.socket()
        lst.bind((sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1", 0))
        lst.listen()
        print("listening", lst.getsockname()[1], flush=True)
        conn, _ = lst.accept()
    elif role == "client":
        conn = socket.socket()
        conn.connect((sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1", int(sys.argv[2])))
    else:  # "fd N": an exec'd image taking over a descriptor
        conn = socket.socket(fileno=int(sys.argv[2]))
    print("ready", os.getpid(), conn.getsockname()[1], conn.getpeername()[1], conn.fileno(), flush=True)
    serve(conn)


main()
