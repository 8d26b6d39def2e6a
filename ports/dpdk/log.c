/* DPDK's log, captured for Go: see log.go. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rte_log.h>

#include "shim.h"
#include "_cgo_export.h"

/*
 * rte_vlog writes one message with vfprintf and then flushes the stream,
 * so each write here is one message (longer ones come in pieces of the
 * stream's buffer). The message's level is still in the calling thread's
 * per-lcore state.
 */
static ssize_t shim6_log_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	shim6GoLog((char *)buf, (int)size, rte_log_cur_msg_loglevel());
	return (ssize_t)size;
}

int shim6_log_capture(void)
{
	cookie_io_functions_t io = {.write = shim6_log_write};
	FILE *f = fopencookie(NULL, "w", io);

	if (f == NULL)
		return -errno;
	return rte_openlog_stream(f);
}

/* Copies what fd wrote into a memory file back to Go, then closes it. */
static void shim6_stdio_back(int fd, int from)
{
	char buf[4096];
	ssize_t n;

	if (lseek(fd, 0, SEEK_SET) == 0)
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			shim6GoStdio(buf, (int)n, from);
	close(fd);
}

/*
 * rte_eal_init with stdout and stderr going to memory files whose text
 * then goes to Go with the log: EAL writes some things there rather than
 * to its log (rte_eal_init_alert's "EAL: FATAL: ...", getopt's complaint
 * about an option, the usage text). Memory files, not pipes: nobody reads
 * while EAL writes, so a pipe could fill and block it. Where memfd_create
 * fails, EAL writes to the real stdout and stderr.
 */
int shim6_eal_init_quiet(int argc, char **argv)
{
	int mem[2] = {memfd_create("shim6d-eal-stdout", MFD_CLOEXEC),
		      memfd_create("shim6d-eal-stderr", MFD_CLOEXEC)};
	int saved[2] = {-1, -1};
	int ret;

	for (int i = 0; i < 2; i++) {
		if (mem[i] < 0 || (saved[i] = dup(1 + i)) < 0) {
			for (int j = 0; j < 2; j++) {
				if (mem[j] >= 0)
					close(mem[j]);
				if (saved[j] >= 0)
					close(saved[j]);
			}
			return shim6_eal_init(argc, argv);
		}
	}
	fflush(stdout);
	fflush(stderr);
	dup2(mem[0], 1);
	dup2(mem[1], 2);
	ret = shim6_eal_init(argc, argv);
	fflush(stdout);
	fflush(stderr);
	for (int i = 0; i < 2; i++) {
		dup2(saved[i], 1 + i);
		close(saved[i]);
		shim6_stdio_back(mem[i], 1 + i);
	}
	return ret;
}
