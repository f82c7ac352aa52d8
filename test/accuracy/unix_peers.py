# Peers for the unix socket cases (run by Debian's /usr/bin/python3, whose
# gunicorn the same file serves as a WSGI app).
#   app                       (import only) a WSGI app: /status/NNN -> NNN, with a Content-Length
#   server <path>             HTTP/1.1 keep-alive server on a unix stream socket, answering pipelined requests in order;
#                             /status/NNN with one write, /sendfile/NNN with its head written and its body sent by sendfile
#   keepalive <path> <paths...>  one http.client connection over the socket, a request per path; prints each status
#   stdin <path>              one http.client connection over the socket, a request per path read from stdin; prints each status
#   pipelined <path> <paths...>  every request in one write, then reads the answers; prints each status
#   not-http                  HTTP text in unix datagrams, and a binary protocol on a unix stream pair
import os
import re
import socket
import sys
import threading


def app(environ, start_response):
    parts = environ["PATH_INFO"].split("/")
    code = int(parts[2]) if len(parts) > 2 and parts[1] == "status" else 404
    body = b"status %d\n" % code
    start_response("%d Status" % code, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def read_heads(conn, buffer):
    """Yields (path, rest of buffer) for each request head; requests carry no body."""
    while True:
        while b"\r\n\r\n" not in buffer:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        yield head.split(b" ")[1].decode()


def sendfile_body(conn, body):
    """Sends body from a file with sendfile: bytes the process never holds."""
    import tempfile

    with tempfile.TemporaryFile() as f:
        f.write(body)
        f.flush()
        sent = 0
        while sent < len(body):
            sent += os.sendfile(conn.fileno(), f.fileno(), sent, len(body) - sent)


def handle(conn):
    with conn:
        for path in read_heads(conn, b""):
            kind, code = path.split("/")[1], int(path.split("/")[2])
            if kind == "sendfile":
                # A body larger than one chunk, after its head.
                body = (b"status %d\n" % code) * 10000
                conn.sendall(b"HTTP/1.1 %d Status\r\nContent-Length: %d\r\n\r\n" % (code, len(body)))
                sendfile_body(conn, body)
                continue
            body = b"status %d\n" % code
            conn.sendall(b"HTTP/1.1 %d Status\r\nContent-Length: %d\r\n\r\n%s" % (code, len(body), body))


def serve(path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def keepalive(path, paths):
    import http.client

    class UnixConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(path)

    conn = UnixConnection("localhost")
    for p in paths:
        conn.request("GET", p)
        res = conn.getresponse()
        res.read()
        print(res.status, flush=True)


def pipelined(path, paths):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    sock.sendall(b"".join(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % p.encode() for p in paths))
    got = b""
    # Every body is one "status NNN\n" line.
    while got.count(b"\r\n\r\nstatus ") < len(paths) or not got.endswith(b"\n"):
        got += sock.recv(65536)
    for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", got):
        print(int(code), flush=True)
    sock.close()


def not_http():
    request = b"GET /status/200 HTTP/1.1\r\nHost: localhost\r\n\r\n"
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    for _ in range(10):
        a.send(request)
        b.recv(65536)
        b.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        a.recv(65536)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for i in range(10):
        a.sendall(bytes(range(256)) * 4)
        got = 0
        while got < 1024:
            got += len(b.recv(65536))
        b.sendall(b"\x00\x01OK %d\n" % i)
        a.recv(64)
    print("done", flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "server":
        serve(sys.argv[2])
    elif mode == "keepalive":
        keepalive(sys.argv[2], sys.argv[3:])
    elif mode == "stdin":
        keepalive(sys.argv[2], (line.strip() for line in sys.stdin))
    elif mode == "pipelined":
        pipelined(sys.argv[2], sys.argv[3:])
    elif mode == "not-http":
        not_http()
