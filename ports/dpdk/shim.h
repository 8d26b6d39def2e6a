/*
 * C side of package dpdk: the few functions Go calls once per burst, and
 * the C-memory burst arrays they share with Go.
 *
 * DPDK's fast-path functions (rte_eth_rx_burst, rte_pktmbuf_free_bulk,
 * rte_ring_*_burst, ...) are static inline, so cgo cannot call them
 * directly; they are wrapped here, one C call per burst.
 */
#ifndef SHIM6_DPDK_SHIM_H
#define SHIM6_DPDK_SHIM_H

#include <stdint.h>

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

/* Must equal ports.MaxBurst; the Go side asserts it at compile time. */
#define SHIM6_MAX_BURST 32

/*
 * The Go code assumes every received buffer has ports.Headroom (128) bytes
 * in front of the data, so the shim can prepend its header in place.
 */
_Static_assert(RTE_PKTMBUF_HEADROOM == 128, "RTE_PKTMBUF_HEADROOM must equal ports.Headroom");

/*
 * One packet exactly as Go's ports.Packet lays it out (package dpdk checks
 * every offset at compile time): the burst functions read and write Go's
 * packet arrays in place. Every field is an integer, none a pointer, so
 * cgo has nothing to check when Go passes an array of them to C.
 */
struct shim6_pkt {
	uintptr_t mbuf;     /* Handle */
	uintptr_t buf_addr; /* Addr */
	uint16_t data_off;  /* Off */
	uint16_t data_len;  /* Len */
	uint16_t buf_len;   /* BufLen */
	uint16_t port;      /* Port */
};

/*
 * The burst state of one rx or tx queue, allocated once in C memory. What
 * Go sees of each (these structs) holds integers only: cgo then has no
 * pointer to check when Go passes one to C, a check that costs about 9 ns
 * per call even for C memory. The rte_mbuf pointer arrays sit in a larger
 * private struct in shim.c whose first member is this one.
 */

/* One rx queue, polled by one worker. */
struct shim6_rxq {
	/* Chained mbufs dropped; written only by the queue's poller. */
	uint64_t multiseg_drops;
	uint16_t port_id;
	uint16_t queue_id;
	/* Our index of the port, for shim6_pkt.port. */
	uint16_t index;
};

/* One tx queue. */
struct shim6_txq {
	uint16_t port_id;
	uint16_t queue_id;
};

/* Must equal ports.MaxPorts; the Go side asserts it at compile time. */
#define SHIM6_MAX_PORTS 16

/*
 * A worker's round, exactly as Go's ports.Round lays it out: every port's
 * waiting tx burst and its rx burst, in buffers the worker may swap
 * between rounds (tx_buf and rx_buf index bufs).
 */
struct shim6_round {
	struct shim6_pkt bufs[2 * SHIM6_MAX_PORTS][SHIM6_MAX_BURST];
	uint8_t tx_buf[SHIM6_MAX_PORTS];
	uint8_t rx_buf[SHIM6_MAX_PORTS];
	uint16_t ntx[SHIM6_MAX_PORTS];
	uint16_t nrx[SHIM6_MAX_PORTS];
	uint16_t sent[SHIM6_MAX_PORTS];
	uint32_t rx_bytes[SHIM6_MAX_PORTS];
	uint32_t tx_bytes[SHIM6_MAX_PORTS];
};

/*
 * The queues a round runs over: n ports, rx[i] and tx[i] the queues of
 * the round's port i (struct shim6_rxq and shim6_txq, as integers so that
 * cgo has no pointer to check).
 */
struct shim6_round_queues {
	uintptr_t rx[SHIM6_MAX_PORTS];
	uintptr_t tx[SHIM6_MAX_PORTS];
	uint16_t n;
};

/* A ring. */
struct shim6_ring;

struct shim6_stats {
	uint64_t ipackets, opackets, ibytes, obytes;
	uint64_t imissed, ierrors, oerrors, rx_nombuf;
};

int shim6_eal_init(int argc, char **argv);
/* log.c: DPDK's log and rte_eal_init's stdout and stderr, back to Go. */
int shim6_eal_init_quiet(int argc, char **argv);
int shim6_log_capture(void);
int shim6_eal_cleanup(void);
int shim6_thread_register(void);
int shim6_set_affinity(const int *cpus, int n);
int shim6_lcore_id(void);

struct rte_mempool *shim6_pool_create(const char *name, unsigned n, unsigned cache,
				      uint16_t data_room, int socket, int *err);
struct shim6_ring *shim6_ring_create(const char *name, unsigned count, int *err);
void shim6_ring_free(struct shim6_ring *r);

int shim6_port_configure(uint16_t port, uint16_t nrx, uint16_t ntx, uint64_t rss_hf);
int shim6_link(uint16_t port, int *up, uint32_t *speed);
int shim6_mac(uint16_t port, uint8_t *mac);
int shim6_stats_get(uint16_t port, struct shim6_stats *s);
int shim6_dev_info(uint16_t port, uint16_t *max_rx, uint16_t *max_tx, uint64_t *rss);
struct shim6_rxq *shim6_rxq_new(uint16_t port, uint16_t queue, uint16_t index, int socket);
struct shim6_txq *shim6_txq_new(uint16_t port, uint16_t queue, int socket);

/*
 * The burst functions take and fill arrays of struct shim6_pkt in Go
 * memory (a burst of ports.Packet), at most SHIM6_MAX_BURST long.
 */
uint16_t shim6_rx_burst(struct shim6_rxq *q, struct shim6_pkt *out, uint16_t n);
uint16_t shim6_tx_burst(struct shim6_txq *q, const struct shim6_pkt *in, uint16_t n);
/*
 * One worker round in one call: every port's waiting burst sent (sent[]
 * and tx_bytes[] set, the rest left to the caller), then, when rx is
 * non-zero, a burst received from every port (nrx[] and rx_bytes[] set;
 * left alone when rx is zero).
 * Returns the packets received.
 */
unsigned shim6_round(const struct shim6_round_queues *q, struct shim6_round *r, int rx);
/* The pool travels as an integer for the same reason as above. */
uint16_t shim6_alloc(uintptr_t pool, struct shim6_pkt *out, uint16_t n, uint16_t port);
void shim6_free(const struct shim6_pkt *in, uint16_t n);
unsigned shim6_ring_mp_enqueue(struct shim6_ring *r, const struct shim6_pkt *in, unsigned n);
unsigned shim6_ring_sc_dequeue(struct shim6_ring *r, struct shim6_pkt *out, unsigned n);
unsigned shim6_ring_count(struct shim6_ring *r);
unsigned shim6_ring_capacity(struct shim6_ring *r);

#endif
