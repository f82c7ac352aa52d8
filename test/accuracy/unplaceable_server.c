/*
 * An HTTP/1.1 server whose socket I/O the kernel side cannot place in a
 * byte stream, so it must count none of it and name each transfer as a
 * loss instead. argv: mode port conns
 *   mmsg   accept(2), then every byte through recvmmsg/sendmmsg (vlen 1):
 *          the syscall's registers do not say which message moved
 *   uring  accept, recv and send only through io_uring (Debian's liburing):
 *          a receive may complete inside a later unrelated syscall, or in a
 *          kernel worker
 * Serves `conns` keep-alive connections on 127.0.0.1:port one after the
 * other, answers /status/NNN with NNN, then prints how many transfers
 * moved data (calls, or completions with res > 0) and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int use_uring;
static struct io_uring ring;
static int transfers_with_data;

static void die(const char *what, int err)
{
	fprintf(stderr, "%s: %s\n", what, strerror(err));
	exit(1);
}

/* Submits the prepared io_uring request and waits for its result. */
static int uring_complete(void)
{
	struct io_uring_cqe *cqe;
	int res, err;

	if ((err = io_uring_submit_and_wait(&ring, 1)) < 0 || (err = io_uring_wait_cqe(&ring, &cqe)))
		die("io_uring", -err);
	res = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	if (res < 0)
		die("io_uring request", -res);
	return res;
}

static int mmsg_transfer(int fd, char *buf, size_t len, int in)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct mmsghdr msg;
	int n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_hdr.msg_iov = &iov;
	msg.msg_hdr.msg_iovlen = 1;
	n = in ? recvmmsg(fd, &msg, 1, 0, NULL) : sendmmsg(fd, &msg, 1, 0);
	if (n < 0)
		die(in ? "recvmmsg" : "sendmmsg", errno);
	return n == 1 ? (int)msg.msg_len : 0;
}

static int transfer(int fd, char *buf, size_t len, int in)
{
	int n;

	if (use_uring) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

		if (in)
			io_uring_prep_recv(sqe, fd, buf, len, 0);
		else
			io_uring_prep_send(sqe, fd, buf, len, 0);
		n = uring_complete();
	} else {
		n = mmsg_transfer(fd, buf, len, in);
	}
	if (n > 0)
		transfers_with_data++;
	return n;
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
				die("request head", E2BIG);
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
	int one = 1, lfd, conns, i, fd, err;

	if (argc != 4 || (strcmp(argv[1], "mmsg") && strcmp(argv[1], "uring"))) {
		fprintf(stderr, "usage: %s mmsg|uring port conns\n", argv[0]);
		return 2;
	}
	use_uring = !strcmp(argv[1], "uring");
	addr.sin_port = htons(atoi(argv[2]));
	conns = atoi(argv[3]);
	if (use_uring && (err = io_uring_queue_init(8, &ring, 0)))
		die("io_uring_queue_init", -err);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 8))
		die("listen", errno);
	/* The test waits for this line: a probe connection would take one of the `conns`. */
	printf("listening\n");
	fflush(stdout);
	for (i = 0; i < conns; i++) {
		if (use_uring) {
			io_uring_prep_accept(io_uring_get_sqe(&ring), lfd, NULL, NULL, 0);
			fd = uring_complete();
		} else if ((fd = accept(lfd, NULL, NULL)) < 0) {
			die("accept", errno);
		}
		serve(fd);
		if (use_uring) {
			io_uring_prep_close(io_uring_get_sqe(&ring), fd);
			uring_complete();
		} else {
			close(fd);
		}
	}
	printf("%d\n", transfers_with_data);
	return 0;
}
