/*
 * An HTTP/1.1 server that moves every byte of its one connection with
 * recvmmsg and sendmmsg (vlen 1): the registers of such a call do not say
 * which message an event belongs to, so the kernel side must count each
 * call that moved data as a named loss and nothing else. Serves one
 * keep-alive connection on 127.0.0.1:port, answers /status/NNN with NNN,
 * and when the client closes prints how many calls moved data.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int calls_with_data;

static long move(int fd, char *buf, size_t len, int in)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct mmsghdr msg;
	int n;

	memset(&msg, 0, sizeof(msg));
	msg.msg_hdr.msg_iov = &iov;
	msg.msg_hdr.msg_iovlen = 1;
	n = in ? recvmmsg(fd, &msg, 1, 0, NULL) : sendmmsg(fd, &msg, 1, 0);
	if (n < 0) {
		perror(in ? "recvmmsg" : "sendmmsg");
		exit(1);
	}
	if (n == 1 && msg.msg_len > 0)
		calls_with_data++;
	return n == 1 ? (long)msg.msg_len : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char buf[65536], out[256];
	size_t have = 0;
	int one = 1, lfd, fd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s port\n", argv[0]);
		return 2;
	}
	addr.sin_port = htons(atoi(argv[1]));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 8)) {
		perror("listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	fd = accept(lfd, NULL, NULL);
	for (;;) {
		char *end = memmem(buf, have, "\r\n\r\n", 4);
		int code = 404, len, sent;
		long n;

		if (!end) {
			if (have == sizeof(buf))
				return 1;
			n = move(fd, buf + have, sizeof(buf) - have, 1);
			if (n == 0)
				break;
			have += n;
			continue;
		}
		sscanf(buf, "GET /status/%d ", &code);
		len = snprintf(out, sizeof(out), "HTTP/1.1 %d Whatever\r\nContent-Length: 11\r\n\r\nstatus %d\n", code, code);
		for (sent = 0; sent < len;)
			sent += move(fd, out + sent, len - sent, 0);
		end += 4;
		have -= end - buf;
		memmove(buf, end, have);
	}
	printf("%d\n", calls_with_data);
	return 0;
}
