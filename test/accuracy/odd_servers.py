# Servers (and one client) whose socket handling is unusual in a way the
# kernel side must survive: argv: mode port [pid-log]
#   websocket         answers GET /ws with 101, then exchanges bytes that look
#                     like HTTP but are WebSocket traffic (framed and raw)
#   websocket-client  drives the websocket server; prints what came back
#   peek              reads every request first with recv(MSG_PEEK), then recv
#   inetd             the parent accepts and forks; the child puts the socket
#                     on fds 0 and 1 and execs a fresh python3 (inetd-child)
#   inetd-child       (the exec'd program) serves keep-alive requests with
#                     os.read(0) / os.write(1), logging its pid to pid-log
# Every HTTP server answers /status/NNN with NNN and a small body.
import os
import re
import socket
import sys
import threading

MODE = sys.argv[1]
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else 0
PID_LOG = sys.argv[3] if len(sys.argv) > 3 else None

# After the 101, WebSocket frames (client ones masked with a zero key, so the
# payload stays readable on the wire) and raw bytes, each side's text an
# HTTP message in disguise. Each entry: (client sends, server answers).
HTTP_REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
HTTP_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def ws_frame(payload, masked):
    head = bytes([0x81, (0x80 if masked else 0) | len(payload)])
    return head + (b"\0\0\0\0" if masked else b"") + payload


WS_EXCHANGES = [
    (ws_frame(HTTP_REQUEST, True), ws_frame(HTTP_RESPONSE, False)),
    (HTTP_REQUEST, HTTP_RESPONSE),
    (ws_frame(HTTP_REQUEST, True), HTTP_RESPONSE),
    (HTTP_REQUEST, ws_frame(HTTP_RESPONSE, False)),
    (HTTP_REQUEST * 3, HTTP_RESPONSE * 3),
]
UPGRADE_REQUEST = (
    b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
UPGRADE_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


def read_exactly(recv, n):
    data = b""
    while len(data) < n:
        more = recv(n - len(data))
        if not more:
            raise EOFError
        data += more
    return data


def answer(path, close):
    match = re.fullmatch(r"/status/(\d{3})", path)
    code = int(match.group(1)) if match else 404
    body = f"status {code}\n".encode()
    head = f"HTTP/1.1 {code} Whatever\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + body


def serve_http(recv, send):
    """Keep-alive HTTP/1.1 without request bodies, until the client closes or asks to."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            data = recv()
            if not data:
                return
            buf += data
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        close = any(l.lower() == "connection: close" for l in lines[1:])
        out = answer(lines[0].split(" ")[1], close)
        while out:
            out = out[send(out):]
        if close:
            return


def websocket_conn(sock):
    recv = sock.recv
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += read_exactly(recv, 1)
    if head != UPGRADE_REQUEST:
        raise SystemExit(f"unexpected upgrade request {head!r}")
    sock.sendall(UPGRADE_RESPONSE)
    for sent, reply in WS_EXCHANGES:
        if read_exactly(recv, len(sent)) != sent:
            raise SystemExit("unexpected websocket bytes")
        sock.sendall(reply)


def websocket_client():
    sock = socket.create_connection(("127.0.0.1", PORT))
    sock.sendall(UPGRADE_REQUEST)
    got = read_exactly(sock.recv, len(UPGRADE_RESPONSE))
    print(got.split(b"\r\n")[0].decode(), flush=True)
    for sent, reply in WS_EXCHANGES:
        sock.sendall(sent)
        if read_exactly(sock.recv, len(reply)) != reply:
            raise SystemExit("unexpected websocket reply")
        print("exchanged", flush=True)
    sock.close()


def peek_conn(sock):
    def recv():
        # Look first (as a protocol sniffer does), then take exactly what was seen.
        seen = sock.recv(65536, socket.MSG_PEEK)
        if not seen:
            return b""
        return read_exactly(sock.recv, len(seen))

    serve_http(recv, sock.send)


def inetd_child():
    if PID_LOG:
        with open(PID_LOG, "a") as log:
            log.write(f"{os.getpid()}\n")
    serve_http(lambda: os.read(0, 65536), lambda data: os.write(1, data))


def serve(handle, fork_exec=False):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", PORT))
    listener.listen(64)
    print("listening", flush=True)
    while True:
        sock, _ = listener.accept()
        if fork_exec:
            if os.fork() == 0:
                listener.close()
                os.dup2(sock.fileno(), 0)
                os.dup2(sock.fileno(), 1)
                sock.close()
                os.execvp("python3", ["python3", __file__, "inetd-child", "0", PID_LOG or ""])
            sock.close()
            continue

        def run(sock=sock):
            try:
                handle(sock)
            except (ConnectionError, EOFError):
                pass
            finally:
                sock.close()

        threading.Thread(target=run, daemon=True).start()


if MODE == "websocket":
    serve(websocket_conn)
elif MODE == "websocket-client":
    websocket_client()
elif MODE == "peek":
    serve(peek_conn)
elif MODE == "inetd":
    import signal

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children reap themselves
    serve(None, fork_exec=True)
elif MODE == "inetd-child":
    inetd_child()
else:
    raise SystemExit(f"unknown mode {MODE}")
