/* DPDK's log, captured for Go: see log.go. */
#define _GNU_SOURCE

#include <errno.h>
#include <stdio.h>

#include <rte_log.h>

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
