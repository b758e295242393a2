# A memcached client (tests/users.rs): connects to 127.0.0.1:PORT, stores k=x and
# reads it back with the text protocol, prints "STORED x" (what the server
# answered), then keeps the connection open until standard input closes.
import socket
import sys

s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"set k 0 0 1\r\nx\r\n")
stored = b""
while not stored.endswith(b"\r\n"):
    stored += s.recv(100)
s.sendall(b"get k\r\n")
got = b""
while not got.endswith(b"END\r\n"):
    got += s.recv(100)
# VALUE k 0 1 / x / END
print(stored.decode().strip(), got.decode().split("\r\n")[1], flush=True)
sys.stdin.read()
