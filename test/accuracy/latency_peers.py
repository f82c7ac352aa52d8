# Both ends of the latency cases, on loopback.
#
#   server PORT
#     Answers GET /delay/MS after sleeping MS milliseconds, in order, on
#     keep-alive connections (pipelined requests wait their turn), with a
#     Content-Length body. GET /sendfile/MS sends the head at once, sleeps
#     MS, then sends the body with sendfile(2): the request ends with it.
#
#   client PORT MODE PATH...
#     One keep-alive connection. MODE "sequential": each request sent after
#     the previous answer; "pipelined": all sent in one write. Starts 20 ms
#     after a wall-clock second so that a sub-second plan lands in one of
#     the plugin's ticks. Prints JSON: the second it started in and each
#     request's duration in ms as this client saw it (from its send to the
#     read of the answer's last byte).
import json
import os
import socket
import sys
import tempfile
import time

BODY = b"x" * 4096


def serve(port):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    body_file = tempfile.TemporaryFile()
    body_file.write(BODY)
    body_file.flush()
    # One connection at a time, in this process: the plugin counts this pid.
    while True:
        conn, _ = listener.accept()
        with conn:
            handle(conn, body_file)


def handle(conn, body_file):
    pending = b""
    while True:
        while b"\r\n\r\n" not in pending:
            chunk = conn.recv(65536)
            if not chunk:
                return
            pending += chunk
        head, pending = pending.split(b"\r\n\r\n", 1)
        _, path, _ = head.split(b"\r\n")[0].decode().split(" ")
        kind, ms = path.strip("/").split("/")
        if kind == "delay":
            time.sleep(int(ms) / 1000)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
        else:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY))
            time.sleep(int(ms) / 1000)
            os.sendfile(conn.fileno(), body_file.fileno(), 0, len(BODY))


def read_answer(reader):
    status = reader.readline()
    if not status.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"unexpected answer: {status!r}")
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if len(reader.read(length)) != length:
        raise SystemExit("short body")


def client(port, mode, paths):
    conn = socket.create_connection(("127.0.0.1", port))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = conn.makefile("rb")
    time.sleep(1 - time.time() % 1 + 0.02)
    second = int(time.time())
    requests = [f"GET {p} HTTP/1.1\r\nHost: peers\r\n\r\n".encode() for p in paths]
    durations = []
    if mode == "sequential":
        for request in requests:
            start = time.perf_counter()
            conn.sendall(request)
            read_answer(reader)
            durations.append((time.perf_counter() - start) * 1000)
    else:
        start = time.perf_counter()
        conn.sendall(b"".join(requests))
        for _ in requests:
            read_answer(reader)
            durations.append((time.perf_counter() - start) * 1000)
    if int(time.time()) != second:
        raise SystemExit("the plan did not fit in one second")
    print(json.dumps({"second": second, "durations": durations}))


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]))
    else:
        client(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
