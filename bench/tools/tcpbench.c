/*
 * tcpbench: a minimal TCP throughput tool for berth's network benchmark (bench/network.sh).
 *
 *   tcpbench server PORT [COUNT]   listen on 0.0.0.0:PORT; for each connection (COUNT of
 *                                  them, default: forever) read until EOF, close, and print
 *                                  "bytes=N seconds=S gbit_s=G" on stdout.
 *   tcpbench client HOST PORT BYTES
 *                                  connect to HOST (an IPv4 address or a name) : PORT, send
 *                                  BYTES in 128 KiB writes, shut down the write side and wait
 *                                  for the server's close (so every byte has been read at the
 *                                  far end), then print "bytes=N seconds=S gbit_s=G".
 *
 * Built static (gcc -static -O2) so the same binary runs on the host and in any image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (128 * 1024)

static char buf[CHUNK];

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(unsigned long long bytes, double secs)
{
	printf("bytes=%llu seconds=%.6f gbit_s=%.3f\n", bytes, secs,
	       secs > 0 ? bytes * 8 / secs / 1e9 : 0.0);
	fflush(stdout);
}

static int parse_port(const char *s)
{
	char *end;
	long p = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || p < 1 || p > 65535) {
		fprintf(stderr, "tcpbench: bad port '%s'\n", s);
		exit(2);
	}
	return (int)p;
}

/* Reads one connection until EOF; returns the bytes read, or -1 on a read error. */
static long long drain(int fd)
{
	long long total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n == 0)
			return total;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("tcpbench: read");
			return -1;
		}
		total += n;
	}
}

static int serve(int port, long count)
{
	int one = 1;
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ls, 16) < 0) {
		perror("tcpbench: listen");
		return 1;
	}
	fprintf(stderr, "tcpbench: listening on port %d\n", port);
	for (long i = 0; count <= 0 || i < count; i++) {
		int fd = accept(ls, NULL, NULL);
		if (fd < 0) {
			perror("tcpbench: accept");
			return 1;
		}
		double t0 = now();
		long long got = drain(fd);
		double t1 = now();
		close(fd);
		if (got >= 0)
			report(got, t1 - t0);
	}
	return 0;
}

static int dial(const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res, *ai;
	int rc = getaddrinfo(host, port, &hints, &res), fd = -1;
	if (rc != 0) {
		fprintf(stderr, "tcpbench: resolve %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "tcpbench: connect %s:%s: %s\n", host, port, strerror(errno));
	return fd;
}

static int send_all(int fd, unsigned long long bytes)
{
	while (bytes > 0) {
		size_t want = bytes < CHUNK ? bytes : CHUNK;
		ssize_t n = write(fd, buf, want);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("tcpbench: write");
			return -1;
		}
		bytes -= n;
	}
	return 0;
}

static int client(const char *host, const char *port, const char *count)
{
	char *end;
	unsigned long long bytes = strtoull(count, &end, 10);
	if (*count == '\0' || *end != '\0') {
		fprintf(stderr, "tcpbench: bad byte count '%s'\n", count);
		return 2;
	}
	parse_port(port);
	memset(buf, 'x', sizeof buf);
	int fd = dial(host, port);
	if (fd < 0)
		return 1;
	double t0 = now();
	if (send_all(fd, bytes) < 0 || shutdown(fd, SHUT_WR) < 0 || drain(fd) < 0)
		return 1;
	double t1 = now();
	close(fd);
	report(bytes, t1 - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && argc <= 4 && strcmp(argv[1], "server") == 0)
		return serve(parse_port(argv[2]), argc == 4 ? atol(argv[3]) : 0);
	if (argc == 5 && strcmp(argv[1], "client") == 0)
		return client(argv[2], argv[3], argv[4]);
	fprintf(stderr, "usage: tcpbench server PORT [COUNT]\n"
			"       tcpbench client HOST PORT BYTES\n");
	return 2;
}
