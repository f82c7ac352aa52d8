# Peers whose response bodies end with the connection (no Content-Length,
# no chunking), each request on a connection of its own.
#   app                      (import only, for uwsgi) a WSGI app: /delay/MS/CODE sleeps MS, then answers CODE
#   server PORT              HTTP/1.0: reads a request, sends the head, sleeps MS, sends the body, closes
#   client PORT PATHS...     a connection per path: writes the request, reads to the end of the stream;
#                            prints {"codes": [...], "durations": [ms...]} as measured here
#   lateserver PORT          reads a request, waits for the client to close, then answers it (with a
#                            Content-Length): the send succeeds, and on loopback the client's reset
#                            closes the socket before the send returns
#   leaver PORT PATHS...     a connection per path: writes the request and closes at once, reading nothing
import json
import socket
import sys
import threading
import time


def parse(path):
    _, _, ms, code = path.split("/")
    return int(ms), int(code)


def app(environ, start_response):
    ms, code = parse(environ["PATH_INFO"])
    time.sleep(ms / 1000)
    start_response("%d Status" % code, [("Content-Type", "text/plain")])
    return [b"status %d\n" % code]


def read_head(conn):
    """A request's head, or None if the client closed first."""
    head = b""
    while b"\r\n\r\n" not in head:
        data = conn.recv(65536)
        if not data:
            return None
        head += data
    return head


def handle(conn):
    with conn:
        head = read_head(conn)
        if head is None:
            return
        ms, code = parse(head.split(b" ")[1].decode())
        conn.sendall(b"HTTP/1.0 %d Status\r\nContent-Type: text/plain\r\n\r\n" % code)
        time.sleep(ms / 1000)
        conn.sendall(b"status %d\n" % code)


def answer_late(conn):
    with conn:
        head = read_head(conn)
        if head is None:
            return
        while conn.recv(65536):
            pass
        _, code = parse(head.split(b" ")[1].decode())
        body = b"status %d\n" % code
        conn.sendall(b"HTTP/1.1 %d Status\r\nContent-Length: %d\r\n\r\n%s" % (code, len(body), body))


def serve(port, handler):
    listener = socket.create_server(("127.0.0.1", port))
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def leave(port, paths):
    for path in paths:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path.encode())


def client(port, paths):
    codes, durations = [], []
    for path in paths:
        sock = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % path.encode())
        got = b""
        while True:
            data = sock.recv(65536)
            if not data:
                break
            got += data
        durations.append((time.monotonic() - started) * 1000)
        sock.close()
        codes.append(int(got.split(b" ")[1]))
    print(json.dumps({"codes": codes, "durations": durations}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]), handle)
    elif sys.argv[1] == "lateserver":
        serve(int(sys.argv[2]), answer_late)
    elif sys.argv[1] == "leaver":
        leave(int(sys.argv[2]), sys.argv[3:])
    elif sys.argv[1] == "client":
        client(int(sys.argv[2]), sys.argv[3:])
