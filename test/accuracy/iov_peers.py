# Peers that move HTTP in many segments per call (writev, sendmsg, readv),
# on keep-alive connections, as proxies like varnish do.
#   server PORT             reads requests with readv into 1,024 one-byte buffers; answers
#                           /onebyte/CODE with writev of 1,024 one-byte segments (a 1,024-byte response),
#                           /tokens/CODE with writev of one segment per token of its status line and headers
#   client PORT PATHS...    one connection; each request a sendmsg of 1,024 segments, its bytes one
#                           per segment with empty segments between; reads answers with readv into
#                           small buffers; prints {"codes": [...], "durations": [ms...]}
import json
import os
import socket
import sys
import threading
import time

SEGMENTS = 1024


def one_byte_response(code):
    body = b"status %d\n" % code
    head = b"HTTP/1.1 %d Status\r\nContent-Length: %d\r\nX-Pad: " % (code, len(body))
    pad = SEGMENTS - len(head) - len(b"\r\n\r\n") - len(body)
    return [bytes([b]) for b in head + b"p" * pad + b"\r\n\r\n" + body]


def token_response(code):
    body = b"status %d\n" % code
    return [b"HTTP/1.1", b" ", b"%d" % code, b" ", b"Status", b"\r\n", b"Content-", b"Length", b": ", b"%d" % len(body), b"\r", b"\n",
            b"X-", b"Tok", b"en", b":", b" ", b"yes", b"\r\n", b"\r", b"", b"\n", body[:3], body[3:]]


def handle(conn):
    fd = conn.fileno()
    buffers = [bytearray(1) for _ in range(SEGMENTS)]
    pending = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in pending:
                n = os.readv(fd, buffers)
                if n == 0:
                    return
                pending += b"".join(bytes(b) for b in buffers[:n])
            head, pending = pending.split(b"\r\n\r\n", 1)
            _, kind, code = head.split(b" ")[1].decode().split("/")
            segments = one_byte_response(int(code)) if kind == "onebyte" else token_response(int(code))
            total = sum(len(s) for s in segments)
            sent = os.writev(fd, segments)
            if sent != total:
                raise SystemExit("short writev")


def serve(port):
    listener = socket.create_server(("127.0.0.1", port))
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def request_segments(path):
    data = b"GET %s HTTP/1.1\r\nHost: localhost\r\nX-Pad: %s\r\n\r\n" % (path.encode(), b"q" * 600)
    segments = []
    empties = SEGMENTS - len(data)
    for i, byte in enumerate(data):
        segments.append(bytes([byte]))
        if empties and i % 2:
            segments.append(b"")
            empties -= 1
    segments += [b""] * empties
    assert len(segments) == SEGMENTS
    return segments, len(data)


def read_response(sock):
    fd = sock.fileno()
    buffers = [bytearray(16) for _ in range(64)]
    got = b""
    while True:
        if b"\r\n\r\n" in got:
            head, rest = got.split(b"\r\n\r\n", 1)
            length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0].split(b":")[1])
            if len(rest) >= length:
                if len(rest) != length:
                    raise SystemExit("more bytes than one response")
                return int(head.split(b" ")[1])
        n = os.readv(fd, buffers)
        if n == 0:
            raise SystemExit("connection closed early")
        got += b"".join(bytes(b) for b in buffers)[:n]


def client(port, paths):
    sock = socket.create_connection(("127.0.0.1", port))
    codes, durations = [], []
    for path in paths:
        segments, length = request_segments(path)
        started = time.monotonic()
        if sock.sendmsg(segments) != length:
            raise SystemExit("short sendmsg")
        codes.append(read_response(sock))
        durations.append((time.monotonic() - started) * 1000)
    sock.close()
    print(json.dumps({"codes": codes, "durations": durations}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve(int(sys.argv[2]))
    elif sys.argv[1] == "client":
        client(int(sys.argv[2]), sys.argv[3:])
