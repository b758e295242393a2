#!/usr/bin/env python3
"""A small loopback client and server that set a mix of socket options: the
program `wsd run` is shown on in the README's quick start."""
import errno
import socket
import threading


def attempt(what, call):
    try:
        result = call()
        print(f"  {what:<44} ok" + ("" if result is None else f" ({result})"))
    except OSError as e:
        print(f"  {what:<44} {errno.errorcode[e.errno]}")


server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()


def serve():
    conn, _ = server.accept()
    conn.sendall(conn.recv(64).upper())
    conn.close()


thread = threading.Thread(target=serve)
thread.start()
client = socket.socket()
attempt("SO_GROUP_PRIORITY = 2 before connect", lambda: client.setsockopt(socket.SOL_SOCKET, 0x2002, 2))
client.connect(server.getsockname())
attempt("SO_GROUP_PRIORITY read back", lambda: client.getsockopt(socket.SOL_SOCKET, 0x2002))
attempt("SO_DEBUG = 2 (Winsock SOL_SOCKET 0xffff)", lambda: client.setsockopt(0xFFFF, socket.SO_DEBUG, 2))
attempt("SO_DEBUG read back", lambda: client.getsockopt(socket.SOL_SOCKET, socket.SO_DEBUG))
attempt("SO_DEBUG = 0", lambda: client.setsockopt(0xFFFF, socket.SO_DEBUG, 0))
attempt("TCP_NODELAY = 1", lambda: client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1))
attempt("SO_KEEPALIVE = 1", lambda: client.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1))
attempt("SO_GROUP_PRIORITY = -1", lambda: client.setsockopt(socket.SOL_SOCKET, 0x2002, -1))
attempt("level 0x1234", lambda: client.setsockopt(0x1234, 1, 1))
client.sendall(b"hello over the san")
print("  echo:", client.recv(64).decode())
thread.join()
