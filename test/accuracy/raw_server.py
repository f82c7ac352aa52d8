# A deliberately plain HTTP/1.1 server whose every read and write goes
# through one chosen syscall, so the accuracy suite can name the shape it
# exercised. argv: port host read-shape write-shape mode
#   read-shape:  read | recv | readv | recvmsg
#   write-shape: write | send | writev | sendmsg | sendfile | split | trickle
#                (sendfile: head by send, body by sendfile; split: head and
#                body in two sends; trickle: the first 16 bytes of each
#                response one byte per send)
#   mode:        thread (one thread per connection) | fork (the parent
#                accepts, a forked child serves, like socketserver.ForkingMixIn)
# Paths: /status/NNN answers NNN; /big/NNN answers NNN with 1 MiB;
# /chunked/NNN answers NNN chunked; /echo/NNN answers NNN with the
# request's body; /hints/NNN sends 103 Early Hints first.
# "Expect: 100-continue" gets a 100 before the body is read.
import os
import re
import signal
import socket
import sys
import tempfile
import threading

PORT = int(sys.argv[1])
HOST = sys.argv[2]
READ = sys.argv[3]
WRITE = sys.argv[4]
MODE = sys.argv[5]
BIG = 1 << 20
# fork mode: each child appends its pid here, so the test knows who served.
PID_LOG = os.environ.get("HS_CHILD_PID_LOG")


def reader(sock):
    fd = sock.fileno()
    if READ == "read":
        return lambda: os.read(fd, 65536)
    if READ == "recv":
        return lambda: sock.recv(65536)
    if READ == "readv":
        def readv():
            first, second = bytearray(1024), bytearray(64512)
            n = os.readv(fd, [first, second])
            return bytes((first + second)[:n])
        return readv
    if READ == "recvmsg":
        return lambda: sock.recvmsg(65536)[0]
    raise SystemExit(f"unknown read shape {READ}")


def send_all(sock, data):
    fd = sock.fileno()
    view = memoryview(data)
    while view:
        # every shape but "write" sends plain bytes with send (sendto)
        n = os.write(fd, view) if WRITE == "write" else sock.send(view)
        view = view[n:]


def writer(sock):
    fd = sock.fileno()

    def write(head, body=b""):
        if WRITE in ("write", "send"):
            send_all(sock, head + body)
        elif WRITE == "trickle":
            data = head + body
            for i in range(min(16, len(data))):
                send_all(sock, data[i : i + 1])
            send_all(sock, data[16:])
        elif WRITE == "split":
            send_all(sock, head)
            if body:
                send_all(sock, body)
        elif WRITE in ("writev", "sendmsg"):
            parts = [head, body] if body else [head]
            total = sum(len(p) for p in parts)
            done = os.writev(fd, parts) if WRITE == "writev" else sock.sendmsg(parts)
            if done < total:
                send_all_vectored(sock, (head + body)[done:])
        elif WRITE == "sendfile":
            send_all(sock, head)
            if body:
                with tempfile.TemporaryFile() as f:
                    f.write(body)
                    f.flush()
                    offset = 0
                    while offset < len(body):
                        offset += os.sendfile(fd, f.fileno(), offset, len(body) - offset)
        else:
            raise SystemExit(f"unknown write shape {WRITE}")

    def send_all_vectored(sock, rest):
        view = memoryview(rest)
        while view:
            n = os.writev(fd, [view]) if WRITE == "writev" else sock.sendmsg([view])
            view = view[n:]

    return write


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.read = reader(sock)
        self.write = writer(sock)
        self.buf = b""

    def fill(self):
        data = self.read()
        if not data:
            raise EOFError
        self.buf += data

    def take_until(self, marker):
        while marker not in self.buf:
            self.fill()
        head, self.buf = self.buf.split(marker, 1)
        return head

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def body(self, headers):
        if headers.get("transfer-encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.take_until(b"\r\n").split(b";")[0], 16)
                if size == 0:
                    while self.take_until(b"\r\n"):  # trailers, up to the empty line
                        pass
                    return out
                out += self.take(size)
                self.take(2)
        return self.take(int(headers.get("content-length", "0")))

    def serve(self):
        while True:
            try:
                head = self.take_until(b"\r\n\r\n").decode("latin-1")
            except EOFError:
                return
            lines = head.split("\r\n")
            method, path, version = lines[0].split(" ")
            headers = {}
            for line in lines[1:]:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
            if headers.get("expect", "").lower() == "100-continue":
                self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            body = self.body(headers)
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            self.answer(method, path, close, body)
            if close:
                return

    def answer(self, method, path, close, request_body):
        match = re.fullmatch(r"/(status|big|chunked|hints|echo)/(\d{3})", path)
        kind, code = (match.group(1), int(match.group(2))) if match else ("status", 404)
        if kind == "hints":
            self.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        body = b"x" * BIG if kind == "big" else request_body if kind == "echo" else f"status {code}\n".encode()
        if code in (204, 304):
            body = b""
        head = f"HTTP/1.1 {code} Whatever\r\n"
        if close:
            head += "Connection: close\r\n"
        if kind == "chunked" and body:
            head += "Transfer-Encoding: chunked\r\n\r\n"
            chunks = [body[:3], body[3:], b""]
            payload = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in chunks)
            self.write(head.encode(), b"" if method == "HEAD" else payload)
            return
        if code not in (204, 304):
            head += f"Content-Length: {len(body)}\r\n"
        head += "\r\n"
        self.write(head.encode(), b"" if method == "HEAD" else body)


def handle(sock):
    try:
        Conn(sock).serve()
    except (ConnectionError, EOFError):
        pass
    finally:
        sock.close()


def main():
    family = socket.AF_INET6 if ":" in HOST else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, PORT))
    listener.listen(4096)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # forked children reap themselves
    while True:
        sock, _ = listener.accept()
        if MODE == "fork":
            if os.fork() == 0:
                listener.close()
                if PID_LOG:
                    with open(PID_LOG, "a") as log:
                        log.write(f"{os.getpid()}\n")
                handle(sock)
                os._exit(0)
            sock.close()
        else:
            threading.Thread(target=handle, args=(sock,), daemon=True).start()


main()
