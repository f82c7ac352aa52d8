# Connections of protocols that are not HTTP, opened before the plugin
# starts and used after: TLS, a redis-like protocol, a postgres-like one,
# length-prefixed binary frames and random bytes. One process holds both
# ends of each. Run by Debian's /usr/bin/python3.
# argv: a directory for a self-signed certificate.
# stdin: each line "round" makes one exchange on every connection, each way,
# then prints "done".
import os
import random
import socket
import ssl
import struct
import subprocess
import sys
import threading

CERTS = sys.argv[1]
KEY, CERT = os.path.join(CERTS, "key.pem"), os.path.join(CERTS, "cert.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", KEY, "-out", CERT,
                "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()


def pair():
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    return client, server


def tls_pair():
    client, server = pair()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(CERT, KEY)
    client_ctx = ssl._create_unverified_context()
    wrapped = {}
    t = threading.Thread(target=lambda: wrapped.update(server=server_ctx.wrap_socket(server, server_side=True)))
    t.start()
    wrapped["client"] = client_ctx.wrap_socket(client)
    t.join()
    return wrapped["client"], wrapped["server"]


rng = random.Random(7)


def redis_like(i):
    key = b"key:%d" % i
    return b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$5\r\nvalue\r\n" % (len(key), key), b"+OK\r\n"


def postgres_like(i):
    query = b"SELECT %d\0" % i
    row = struct.pack("!HI", 1, 1) + b"%d" % (i % 10)
    return b"Q" + struct.pack("!I", 4 + len(query)) + query, b"D" + struct.pack("!I", 4 + len(row)) + row + b"Z\0\0\0\5I"


def length_prefixed(i):
    # Big-endian lengths with zero high bytes, as many binary protocols frame messages.
    body = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
    return struct.pack("!I", len(body)) + body, struct.pack("!I", 2) + b"ok"


def random_bytes(i):
    return os.urandom(rng.randrange(1, 3000)), os.urandom(rng.randrange(1, 3000))


CONNECTIONS = [(tls_pair(), random_bytes), (pair(), redis_like), (pair(), postgres_like), (pair(), length_prefixed), (pair(), random_bytes)]


def receive(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise SystemExit("peer closed")
        data += chunk
    return data


count = 0
for line in sys.stdin:
    for (client, server), protocol in CONNECTIONS:
        for _ in range(3):
            ask, answer = protocol(count)
            count += 1
            client.sendall(ask)
            receive(server, len(ask))
            server.sendall(answer)
            receive(client, len(answer))
    print("done", flush=True)
