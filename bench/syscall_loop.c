// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Per-syscall cost driver for bench/syscalls.ts (compiled by the bench).
 *
 *   syscall_loop MODE PORT ITERATIONS
 *     tcp-raw   read()/write() of 64 non-HTTP bytes on an ACCEPTED loopback
 *               TCP connection (the plugin tracks it, then marks it not-HTTP)
 *     tcp-http  the same connection carrying one small HTTP request and one
 *               response per iteration, so every tracked call is parsed
 *     unix-raw, unix-http  the same on a unix stream socket pair (PORT unused)
 *     iov-N     tcp-http with the server's reads a readv and its writes a
 *               writev, each in N segments (1..32) of the same bytes
 *     file      read() of 64 bytes from a regular file, in a process that
 *               also holds an accepted connection (as a web server does)
 *     getppid   getppid(), the cheapest syscall there is, in the same kind
 *               of process: what merely entering the kernel costs under
 *               each variant (a capture on syscall tracepoints slows every
 *               syscall; one on socket tracepoints should not)
 *
 * The process accepts its own connection, so the accepted end is a server
 * socket of this process as the plugin sees it. Only the calls on the
 * accepted end (or the file, or getppid) are timed with CLOCK_MONOTONIC,
 * TCP calls each on its own, the others GROUP in a row; the clock's own
 * cost is the same under every variant, so differences between variants
 * are the programs' cost. On TCP the calls
 * are batched so that a timed read finds its bytes queued and a timed
 * write (corked) only queues them: the loopback network stack, whose cost
 * varies far more than the programs', stays out of the timing. Prints one
 * JSON line: percentiles and mean ns per timed call, for each kind of call
 * timed ("calls": read and write on TCP, read on a file, getppid).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_ITERATIONS 2000000
/* Calls per direction between two exchanges: 128 x 64 bytes fits any socket buffer. */
#define BATCH 128
/*
 * Non-socket calls are timed GROUP in a row per sample: the clock ticks in
 * 10 ns steps on some machines, too coarse for a target of a few ns.
 */
#define GROUP 16

static const char REQUEST[] = "GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n";
static const char RESPONSE[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static void die(const char *what)
{
	fprintf(stderr, "syscall_loop: %s: %s\n", what, strerror(errno));
	exit(1);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Each sample timed `per` calls in a row: figures are per call. */
static void summarize(const char *name, uint32_t *samples, long n, int per, int last)
{
	double sum = 0;
	long i;

	for (i = 0; i < n; i++)
		sum += samples[i];
	qsort(samples, n, sizeof(*samples), cmp_u32);
	printf("\"%s\":{\"p10_ns\":%.2f,\"p25_ns\":%.2f,\"median_ns\":%.2f,\"mean_ns\":%.2f}%s", name,
	       (double)samples[n / 10] / per, (double)samples[n / 4] / per, (double)samples[n / 2] / per,
	       sum / n / per, last ? "" : ",");
}

/* Exact-length I/O: a short count would change what the next call sees. */
static void must(long got, long want, const char *what)
{
	if (got != want) {
		if (got < 0)
			die(what);
		fprintf(stderr, "syscall_loop: %s moved %ld of %ld bytes\n", what, got, want);
		exit(1);
	}
}

/* Reads exactly `total` bytes, in whatever pieces they come. */
static void drain(int fd, char *buf, long size, long total)
{
	long got;

	while (total > 0) {
		got = read(fd, buf, total < size ? total : size);
		if (got <= 0)
			die("client read");
		total -= got;
	}
}

static void connected_pair(int port, int *client, int *server)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	int one = 1, listener;

	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0)
		die("socket");
	setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 1))
		die("bind/listen");
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (*client < 0 || connect(*client, (struct sockaddr *)&addr, sizeof(addr)))
		die("connect");
	*server = accept(listener, NULL, NULL);
	if (*server < 0)
		die("accept");
	close(listener);
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int main(int argc, char **argv)
{
	char buf[4096], raw[64];
	int one = 1, zero = 0;
	uint32_t *reads, *writes;
	const char *mode, *first_name = "read";
	int timed_writes = 1, per = 1;
	int client = -1, server, port;
	long n, i, in_len, out_len;
	const char *in, *out;
	uint64_t t0, t1;

	if (argc != 4) {
		fprintf(stderr, "usage: syscall_loop tcp-raw|tcp-http|unix-raw|unix-http|file|getppid PORT ITERATIONS\n");
		return 2;
	}
	mode = argv[1];
	port = atoi(argv[2]);
	n = atol(argv[3]);
	if (n < 1 || n > MAX_ITERATIONS || port < 1 || port > 65535) {
		fprintf(stderr, "syscall_loop: ITERATIONS must be 1..%d and PORT 1..65535\n", MAX_ITERATIONS);
		return 2;
	}
	reads = malloc(n * sizeof(*reads));
	writes = malloc(n * sizeof(*writes));
	if (!reads || !writes)
		die("malloc");
	memset(raw, 'x', sizeof(raw));

	if (!strcmp(mode, "file")) {
		char path[] = "/tmp/hs-bench-file-XXXXXX";
		int file, g;

		/* A process that serves a connection too, like a web server reading files. */
		connected_pair(port, &client, &server);
		file = mkstemp(path);
		if (file < 0)
			die("mkstemp");
		unlink(path);
		for (g = 0; g < GROUP; g++)
			must(write(file, raw, sizeof(raw)), sizeof(raw), "file write");
		for (i = 0; i < n; i++) {
			lseek(file, 0, SEEK_SET);
			t0 = now_ns();
			for (g = 0; g < GROUP; g++)
				must(read(file, buf, sizeof(raw)), sizeof(raw), "file read");
			t1 = now_ns();
			reads[i] = t1 - t0;
		}
		per = GROUP;
		timed_writes = 0;
	} else if (!strcmp(mode, "getppid")) {
		int g;

		connected_pair(port, &client, &server);
		for (i = 0; i < n; i++) {
			t0 = now_ns();
			/* syscall(): no C library may answer it from a cache. */
			for (g = 0; g < GROUP; g++)
				if (syscall(SYS_getppid) <= 0)
					die("getppid");
			t1 = now_ns();
			reads[i] = t1 - t0;
		}
		first_name = "getppid";
		per = GROUP;
		timed_writes = 0;
	} else if (!strcmp(mode, "tcp-raw") || !strcmp(mode, "tcp-http") || !strcmp(mode, "unix-raw") ||
		   !strcmp(mode, "unix-http") || !strncmp(mode, "iov-", 4)) {
		int segs = !strncmp(mode, "iov-", 4) ? atoi(mode + 4) : 0;
		int http = segs || strstr(mode, "-http") != NULL, unix_pair = !strncmp(mode, "unix", 4), fds[2], k;
		struct iovec in_iov[32], out_iov[32];

		if (!strncmp(mode, "iov-", 4) && (segs < 1 || segs > 32)) {
			fprintf(stderr, "syscall_loop: iov-N takes N in 1..32\n");
			return 2;
		}

		if (unix_pair) {
			/* No cork on unix sockets: each write only queues on the peer. */
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds))
				die("socketpair");
			client = fds[0];
			server = fds[1];
		} else {
			connected_pair(port, &client, &server);
		}
		in = http ? REQUEST : raw;
		in_len = http ? (long)sizeof(REQUEST) - 1 : (long)sizeof(raw);
		out = http ? RESPONSE : raw;
		out_len = http ? (long)sizeof(RESPONSE) - 1 : (long)sizeof(raw);
		/* The same bytes, cut into segs pieces as even as they come. */
		for (k = 0; k < segs; k++) {
			in_iov[k].iov_base = buf + in_len * k / segs;
			in_iov[k].iov_len = in_len * (k + 1) / segs - in_len * k / segs;
			out_iov[k].iov_base = (char *)out + out_len * k / segs;
			out_iov[k].iov_len = out_len * (k + 1) / segs - out_len * k / segs;
		}
		for (i = 0; i < n; i += BATCH) {
			long b, batch = n - i < BATCH ? n - i : BATCH;

			/* The client queues a batch first, so each timed read only copies
			 * from the socket's receive queue (no wait, no network stack). */
			for (b = 0; b < batch; b++)
				must(write(client, in, in_len), in_len, "client write");
			for (b = 0; b < batch; b++) {
				t0 = now_ns();
				must(segs ? readv(server, in_iov, segs) : read(server, buf, in_len), in_len, "server read");
				t1 = now_ns();
				reads[i + b] = t1 - t0;
			}
			/* Corked, a timed write only appends to the send queue; the
			 * batch leaves at uncork, outside the timing. */
			if (!unix_pair)
				setsockopt(server, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
			for (b = 0; b < batch; b++) {
				t0 = now_ns();
				must(segs ? writev(server, out_iov, segs) : write(server, out, out_len), out_len, "server write");
				t1 = now_ns();
				writes[i + b] = t1 - t0;
			}
			if (!unix_pair)
				setsockopt(server, IPPROTO_TCP, TCP_CORK, &zero, sizeof(zero));
			drain(client, buf, sizeof(buf), batch * out_len);
		}
	} else {
		fprintf(stderr, "syscall_loop: unknown mode '%s'\n", mode);
		return 2;
	}
	printf("{\"mode\":\"%s\",\"iterations\":%ld,\"pid\":%d,\"calls\":{", mode, n, getpid());
	summarize(first_name, reads, n, per, !timed_writes);
	if (timed_writes)
		summarize("write", writes, n, 1, 1);
	printf("}}\n");
	return 0;
}
