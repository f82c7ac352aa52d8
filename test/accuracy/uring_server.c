/*
 * An HTTP/1.1 server that accepts, receives and sends only through
 * io_uring (Debian's liburing): an io_uring receive may complete inside an
 * unrelated later syscall, or in a kernel worker, so the kernel side must
 * count each transfer as a named loss and nothing else. Serves `conns`
 * keep-alive connections on 127.0.0.1:port one after the other, answers
 * /status/NNN with NNN, then prints how many recv and send completions
 * moved data (res > 0) and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static struct io_uring ring;
static int completions_with_data;

/* Submits one prepared request and waits for its completion. */
static int complete(void)
{
	struct io_uring_cqe *cqe;
	int res, err;

	if ((err = io_uring_submit_and_wait(&ring, 1)) < 0 || (err = io_uring_wait_cqe(&ring, &cqe))) {
		fprintf(stderr, "io_uring: %s\n", strerror(-err));
		exit(1);
	}
	res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (res < 0) {
		fprintf(stderr, "io_uring op: %s\n", strerror(-res));
		exit(1);
	}
	return res;
}

static int transfer(int fd, char *buf, size_t len, int in)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	int res;

	if (in)
		io_uring_prep_recv(sqe, fd, buf, len, 0);
	else
		io_uring_prep_send(sqe, fd, buf, len, 0);
	res = complete();
	if (res > 0)
		completions_with_data++;
	return res;
}

static void serve(int fd)
{
	char buf[65536], out[256];
	size_t have = 0;

	for (;;) {
		char *end = memmem(buf, have, "\r\n\r\n", 4);
		int code = 404, len, sent, n;

		if (!end) {
			if (have == sizeof(buf))
				exit(1);
			n = transfer(fd, buf + have, sizeof(buf) - have, 1);
			if (n == 0)
				return;
			have += n;
			continue;
		}
		sscanf(buf, "GET /status/%d ", &code);
		len = snprintf(out, sizeof(out), "HTTP/1.1 %d Whatever\r\nContent-Length: 11\r\n\r\nstatus %d\n", code, code);
		for (sent = 0; sent < len;)
			sent += transfer(fd, out + sent, len - sent, 0);
		end += 4;
		have -= end - buf;
		memmove(buf, end, have);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, lfd, conns, i, fd;

	if (argc != 3) {
		fprintf(stderr, "usage: %s port conns\n", argv[0]);
		return 2;
	}
	addr.sin_port = htons(atoi(argv[1]));
	conns = atoi(argv[2]);
	if ((i = io_uring_queue_init(8, &ring, 0))) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-i));
		return 1;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 8)) {
		perror("listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (i = 0; i < conns; i++) {
		io_uring_prep_accept(io_uring_get_sqe(&ring), lfd, NULL, NULL, 0);
		fd = complete();
		serve(fd);
		io_uring_prep_close(io_uring_get_sqe(&ring), fd);
		complete();
	}
	printf("%d\n", completions_with_data);
	return 0;
}
