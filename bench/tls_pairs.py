# TLS plaintext calls with no network: a client and a server SSLObject over
# memory BIOs (Python's ssl, OpenSSL underneath), one SSL_write_ex and one
# SSL_read_ex per pair. Prints nanoseconds per pair over argv[1] pairs.
# argv: pairs, certificate, key.
import ssl
import sys
import time

pairs, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
server_ctx.load_cert_chain(cert, key)
client_ctx = ssl._create_unverified_context()
c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
client = client_ctx.wrap_bio(c_in, c_out)
server = server_ctx.wrap_bio(s_in, s_out, server_side=True)


def pump():
    s_in.write(c_out.read())
    c_in.write(s_out.read())


for _ in range(10):
    for side in (client, server):
        try:
            side.do_handshake()
        except ssl.SSLWantReadError:
            pass
    pump()
message = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
start = time.perf_counter_ns()
for _ in range(pairs):
    client.write(message)
    s_in.write(c_out.read())
    server.read(4096)
print((time.perf_counter_ns() - start) / pairs)
