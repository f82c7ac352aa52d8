# Traffic that looks like HTTP but is not HTTP over an accepted TCP
# connection; the plugin must count none of it. One process does it all,
# so it holds tracked TCP connections while it also does the rest.
# argv: tcp-port unix-path udp-port
#   TCP:  a line protocol: "GET <key>\r\n" -> "VALUE <key>\r\n"; the key
#         "banner" is answered "HTTP/1.1 200 <key>\r\n", a status line that
#         answers no HTTP request. Every connection also reads a file that
#         starts with an HTTP request and writes one that starts with a response.
#   unix: HTTP/1.1 over a unix stream socket (real HTTP: counted, unlike the rest).
#   UDP:  HTTP text in datagrams, echoed with a status line.
import os
import socket
import sys
import tempfile
import threading

TCP_PORT, UNIX_PATH, UDP_PORT = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
FILES = tempfile.mkdtemp()
REQUEST_FILE = os.path.join(FILES, "request.txt")
with open(REQUEST_FILE, "w") as f:
    f.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")


def touch_files():
    fd = os.open(REQUEST_FILE, os.O_RDONLY)
    os.read(fd, 4096)
    os.close(fd)
    fd = os.open(os.path.join(FILES, "response.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.write(fd, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    os.close(fd)


def messages(conn, end):
    """Each message conn sends, up to and without `end`, until it closes."""
    buf = b""
    while data := conn.recv(4096):
        buf += data
        while end in buf:
            message, buf = buf.split(end, 1)
            yield message


def line_protocol(conn):
    with conn:
        touch_files()
        for line in messages(conn, b"\r\n"):
            key = line.split(b" ", 1)[1]
            conn.sendall((b"HTTP/1.1 200 " if key == b"banner" else b"VALUE ") + key + b"\r\n")


def unix_http(conn):
    with conn:
        for _ in messages(conn, b"\r\n\r\n"):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")


def serve(listener, handler):
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=handler, args=(conn,), daemon=True).start()


def udp(sock):
    while True:
        data, peer = sock.recvfrom(65536)
        sock.sendto(b"HTTP/1.1 200 OK\r\n\r\n" + data, peer)


tcp = socket.create_server(("127.0.0.1", TCP_PORT))
unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
unix.bind(UNIX_PATH)
unix.listen(64)
dgram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
dgram.bind(("127.0.0.1", UDP_PORT))
threading.Thread(target=serve, args=(unix, unix_http), daemon=True).start()
threading.Thread(target=udp, args=(dgram,), daemon=True).start()
# Every socket is bound and listening: the test waits for this line.
print("ready", flush=True)
serve(tcp, line_protocol)
