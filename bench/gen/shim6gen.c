/* shim6gen: the bench's traffic source for rows whose active set is larger
 * than any pcap net_pcap can replay without itself becoming the bottleneck
 * (a 1M-packet pcap drags testpmd from 51.7 to 13.6 Mpps: every packet is
 * copied out of a different stored mbuf).
 *
 * It runs as a DPDK secondary process beside the contender (testpmd, l3fwd
 * or shim6d, the primary), on the core the contender leaves free, and feeds
 * the contender's net_ring device: the rings ETH_RXTX<q>_<device> that
 * net_ring creates in the primary are the device's rx queues. Each packet
 * is a fixed 78-byte Ethernet/IPv6/UDP template with the ULID pair of
 * synthetic context k written into it, k cycling over 0..N-1, so a cycle
 * touches N distinct contexts (or l3fwd exact-match entries) while the
 * generator itself touches only its template and recycled mbufs.
 *
 * The pair is control/synth's (DefaultPlan): local ULID 2001:db8:1:1::/64
 * with IID (k mod 65536) + 1, peer ULID 2001:db8:3:1::/64 with IID
 * splitmix64(seed ^ k * 0x9e3779b97f4a7c15). shim6ctl synth loads the same
 * contexts, and pcapgen -gen writes the same 5-tuples as l3fwd rules; a
 * mismatch shows in the bench as packets not rewritten or l3fwd misses.
 *
 *   shim6gen EAL-ARGS -- -d net_ring0 -n 1000000 [-q 1] [-s 1]
 *
 * EAL-ARGS: --proc-type=secondary, the primary's --file-prefix and
 * --huge-dir, and the core the contender leaves free (-l 0).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#define FRAME 78       /* the bench's frame: 14 + 40 + 8 + 16 */
#define BURST 32
#define MAXQ 16        /* net_ring's rings per device */
#define CIRC 4096      /* buffers in circulation: above the rings' 1023 each */
#define AHEAD 8        /* buffers prefetched ahead of the one stamped */
#define GEN_SPORT 1000 /* below pcapgen's 1024+i, so EM rules never clash */
#define GEN_DPORT 9    /* discard, as pcapgen */

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
	(void)sig;
	quit = 1;
}

/* splitmix64 as control/synth has it: context k's peer IID. */
static inline uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static inline uint32_t sum_be64(uint64_t v)
{
	return (uint32_t)(v >> 48) + (uint32_t)((v >> 32) & 0xffff) +
	       (uint32_t)((v >> 16) & 0xffff) + (uint32_t)(v & 0xffff);
}

static uint8_t tmpl[FRAME];
/* The UDP checksum's sum over the template with both IIDs zero: each packet
 * adds its own IIDs' words instead of summing 40 bytes again. */
static uint32_t tmpl_sum;

static void build_template(void)
{
	static const uint8_t dmac[6] = {2, 0, 0, 0, 0, 0x01};
	static const uint8_t smac[6] = {2, 0, 0, 0, 0, 0x10};
	/* control/synth.DefaultPlan's ULID prefixes; the IIDs come per packet. */
	static const uint8_t src64[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 1};
	static const uint8_t dst64[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 3, 0, 1};
	const uint16_t ulen = FRAME - 14 - 40;
	uint8_t *ip = tmpl + 14, *udp = tmpl + 54;

	memcpy(tmpl, dmac, 6);
	memcpy(tmpl + 6, smac, 6);
	tmpl[12] = 0x86;
	tmpl[13] = 0xdd;
	ip[0] = 0x60;
	ip[4] = ulen >> 8;
	ip[5] = ulen & 0xff;
	ip[6] = 17; /* UDP */
	ip[7] = 64;
	memcpy(ip + 8, src64, 8);
	memcpy(ip + 24, dst64, 8);
	udp[0] = GEN_SPORT >> 8;
	udp[1] = GEN_SPORT & 0xff;
	udp[2] = GEN_DPORT >> 8;
	udp[3] = GEN_DPORT & 0xff;
	udp[4] = ulen >> 8;
	udp[5] = ulen & 0xff;
	for (int i = 8; i < ulen; i++)
		udp[i] = (uint8_t)i; /* pcapgen's payload */

	/* Pseudo-header (addresses, length, next header) plus the UDP bytes,
	 * the checksum field still zero. */
	uint32_t s = ulen + 17;
	for (int i = 8; i < 40; i += 2)
		s += (uint32_t)ip[i] << 8 | ip[i + 1];
	for (int i = 0; i < ulen; i += 2)
		s += (uint32_t)udp[i] << 8 | udp[i + 1];
	tmpl_sum = s;
}

/* stamp writes context k's ULID pair and the matching UDP checksum into a
 * fresh copy of the template at p. */
static inline void stamp(uint8_t *p, uint64_t k, uint64_t seed)
{
	uint64_t host = (k & 0xffff) + 1;
	uint64_t peer = splitmix(seed ^ k * 0x9e3779b97f4a7c15ULL);
	uint32_t s = tmpl_sum + sum_be64(host) + sum_be64(peer);

	memcpy(p, tmpl, FRAME);
	put_be64(p + 14 + 16, host);
	put_be64(p + 14 + 32, peer);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	uint16_t c = (uint16_t)~s;
	if (c == 0)
		c = 0xffff;
	p[54 + 6] = c >> 8;
	p[54 + 7] = c & 0xff;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s EAL-ARGS -- -d DEVICE -n PAIRS [-q QUEUES] [-s SEED]\n", prog);
	exit(2);
}

int main(int argc, char **argv)
{
	int ret = rte_eal_init(argc, argv);
	if (ret < 0) {
		fprintf(stderr, "shim6gen: rte_eal_init: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argc -= ret;
	argv += ret;

	const char *dev = NULL;
	uint64_t n = 0, seed = 1;
	unsigned nq = 1;
	int opt;
	while ((opt = getopt(argc, argv, "d:n:q:s:")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'q': nq = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		default: usage(argv[0]);
		}
	}
	if (dev == NULL || nq == 0 || nq > MAXQ || n < nq)
		usage(argv[0]);
	if (rte_eal_process_type() != RTE_PROC_SECONDARY) {
		fprintf(stderr, "shim6gen: run it as a secondary process (--proc-type=secondary) of the contender\n");
		return 2;
	}

	struct rte_ring *rings[MAXQ];
	for (unsigned q = 0; q < nq; q++) {
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "ETH_RXTX%u_%s", q, dev);
		rings[q] = rte_ring_lookup(name);
		if (rings[q] == NULL) {
			fprintf(stderr, "shim6gen: no ring %s: is the contender's %s a net_ring device with %u queue(s)?\n",
				name, dev, nq);
			return 1;
		}
	}
	/* Our own pool, and buffers that never go back to it. A pool's
	 * operations are found through an index into a per-process table, and
	 * the contender's table need not list them in our order (testpmd's
	 * ring_mp_mc is 3 where ours is 2), so the contender must never put a
	 * buffer of ours back: each goes out with a reference count of 2, the
	 * contender's free only drops it to 1, and a 1 tells us that the buffer
	 * is ours again. */
	struct rte_mempool *mp = rte_pktmbuf_pool_create("shim6gen_pool", CIRC + 1023, 0, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (mp == NULL) {
		fprintf(stderr, "shim6gen: pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	static struct rte_mbuf *circ[CIRC];
	if (rte_pktmbuf_alloc_bulk(mp, circ, CIRC) != 0) {
		fprintf(stderr, "shim6gen: cannot take %d buffers from the pool\n", CIRC);
		return 1;
	}
	for (unsigned i = 0; i < CIRC; i++)
		rte_mbuf_refcnt_set(circ[i], 1);
	build_template();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	/* Queue q generates contexts q, q+nq, q+2nq, ... so that together the
	 * queues cycle through all N once per cycle, each with its own share. */
	uint64_t next[MAXQ], sent = 0, busy = 0;
	struct rte_mbuf *pend[MAXQ][BURST];
	unsigned npend[MAXQ] = {0}, off[MAXQ] = {0}, cur = 0;
	for (unsigned q = 0; q < nq; q++)
		next[q] = q;
	printf("shim6gen: %s, %u queue(s), %" PRIu64 " pairs, seed %" PRIu64 "\n", dev, nq, n, seed);
	fflush(stdout);

	while (!quit) {
		for (unsigned q = 0; q < nq; q++) {
			/* A full ring keeps its stamped packets waiting, so no
			 * context is skipped. */
			if (npend[q] == 0) {
				unsigned got = 0;
				/* Take the buffers the contender has let go of; one
				 * it still holds (in a tx buffer, at the control
				 * core) is passed over until a later lap. */
				for (unsigned look = 0; got < BURST && look < CIRC; look++) {
					struct rte_mbuf *m = circ[cur];
					/* The contender's core touched these lines
					 * last: ask for them well ahead, the header
					 * first and then (its address known) the
					 * data, so the transfers overlap. */
					__builtin_prefetch(circ[(cur + 2 * AHEAD) % CIRC], 1);
					struct rte_mbuf *a = circ[(cur + AHEAD) % CIRC];
					__builtin_prefetch((uint8_t *)a->buf_addr + RTE_PKTMBUF_HEADROOM, 1);
					__builtin_prefetch((uint8_t *)a->buf_addr + RTE_PKTMBUF_HEADROOM + 64, 1);
					cur = (cur + 1) % CIRC;
					if (__atomic_load_n(&m->refcnt, __ATOMIC_ACQUIRE) != 1) {
						busy++;
						continue;
					}
					rte_pktmbuf_reset(m);
					stamp(rte_pktmbuf_mtod(m, uint8_t *), next[q], seed);
					m->data_len = FRAME;
					m->pkt_len = FRAME;
					rte_mbuf_refcnt_set(m, 2);
					pend[q][got++] = m;
					next[q] += nq;
					if (next[q] >= n)
						next[q] = q;
				}
				npend[q] = got;
				off[q] = 0;
			}
			unsigned done = rte_ring_enqueue_burst(rings[q], (void **)&pend[q][off[q]], npend[q], NULL);
			npend[q] -= done;
			off[q] += done;
			sent += done;
		}
	}
	printf("shim6gen: %" PRIu64 " packets generated, %" PRIu64 " buffers found still in use\n", sent, busy);
	rte_eal_cleanup();
	return 0;
}
