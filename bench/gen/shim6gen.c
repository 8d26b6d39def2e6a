/* shim6gen: the bench's traffic source for rows whose active set is larger
 * than any pcap net_pcap can replay without itself becoming the bottleneck
 * (a 1M-packet pcap drags testpmd from 51.7 to 13.6 Mpps: every packet is
 * copied out of a different stored mbuf).
 *
 * It is a DPDK program of its own on the core the contender leaves free,
 * and hands its packets over a memif link: it is the server side of a
 * net_memif device, the contender (testpmd, l3fwd or shim6d) the client,
 * whose net_memif PMD copies each packet from the shared ring into a
 * buffer of its own pool, as net_pcap copies from its stored packets. The
 * two processes share nothing else: no DPDK multi-process (shim6d's
 * registered worker threads rule that out), no mempool.
 *
 * Each packet is a fixed 78-byte Ethernet/IPv6/UDP template with the ULID
 * pair of synthetic context k written into it, k cycling over 0..N-1, so a
 * cycle touches N distinct contexts (or l3fwd exact-match entries) while
 * the generator itself touches only its template and recycled buffers.
 * The pair is control/synth's (DefaultPlan): local ULID 2001:db8:1:1::/64
 * with IID (k mod 65536) + 1, peer ULID 2001:db8:3:1::/64 with IID
 * splitmix64(seed ^ k * 0x9e3779b97f4a7c15). shim6ctl synth loads the same
 * contexts, and pcapgen -gen writes the same 5-tuples as l3fwd rules; a
 * mismatch shows in the bench as packets not rewritten or l3fwd misses.
 * What comes back (l3fwd's misses leave by the port they came in on) is
 * received and dropped, so the contender can always count it as sent.
 *
 * With -t the packets are TCP instead (90 bytes: 20 of header, 16 of
 * data): context k's flow sends its next segment each cycle, in order,
 * with sequence number base(k) + 16 x cycle, as a transfer's segments
 * are, for the rows that measure the retransmission watch (issue #18).
 *
 *   shim6gen EAL-ARGS -- -n 1000000 [-q 1] [-s 1] [-t]
 *
 * EAL-ARGS: the core to run on, and the one device, e.g.
 * -l 0 --no-huge -m 256 --no-pci --file-prefix gen
 * --vdev=net_memif0,role=server,socket=/run/gen.sock,socket-abstract=no
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
#include <rte_ethdev.h>

#define FRAME 78       /* the bench's frame: 14 + 40 + 8 + 16 */
#define FRAME_TCP 90   /* with -t: 14 + 40 + 20 + 16 */
#define SEGMENT 16     /* the data a TCP segment carries */
#define BURST 32
#define MAXQ 16        /* queues, one a forwarding core of the contender */
#define GEN_SPORT 1000 /* below pcapgen's 1024+i, so EM rules never clash */
#define GEN_DPORT 9    /* discard, as pcapgen */

static volatile sig_atomic_t quit, report;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		report = 1;
	else
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

static uint8_t tmpl[FRAME_TCP];
/* The transport checksum's sum over the template with both IIDs (and the
 * TCP sequence number) zero: each packet adds its own words instead of
 * summing the header again. */
static uint32_t tmpl_sum;
static int tcp;                 /* -t */
static unsigned frame = FRAME;  /* the frame's length */
static unsigned csum_at = 54 + 6; /* the transport checksum's offset */

static void build_template(void)
{
	static const uint8_t dmac[6] = {2, 0, 0, 0, 0, 0x01};
	static const uint8_t smac[6] = {2, 0, 0, 0, 0, 0x10};
	/* control/synth.DefaultPlan's ULID prefixes; the IIDs come per packet. */
	static const uint8_t src64[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 1};
	static const uint8_t dst64[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 3, 0, 1};
	const uint16_t ulen = frame - 14 - 40;
	uint8_t *ip = tmpl + 14, *l4 = tmpl + 54;
	const uint8_t proto = tcp ? 6 : 17;

	memcpy(tmpl, dmac, 6);
	memcpy(tmpl + 6, smac, 6);
	tmpl[12] = 0x86;
	tmpl[13] = 0xdd;
	ip[0] = 0x60;
	ip[4] = ulen >> 8;
	ip[5] = ulen & 0xff;
	ip[6] = proto;
	ip[7] = 64;
	memcpy(ip + 8, src64, 8);
	memcpy(ip + 24, dst64, 8);
	l4[0] = GEN_SPORT >> 8;
	l4[1] = GEN_SPORT & 0xff;
	l4[2] = GEN_DPORT >> 8;
	l4[3] = GEN_DPORT & 0xff;
	unsigned data = 8;
	if (tcp) {
		/* Sequence number per packet; acknowledgment 1; data offset 5
		 * words; ACK and PSH, as a transfer's data segments. */
		l4[11] = 1;
		l4[12] = 5 << 4;
		l4[13] = 0x18;
		l4[14] = 0xff;
		l4[15] = 0xff;
		data = 20;
		csum_at = 54 + 16;
	} else {
		l4[4] = ulen >> 8;
		l4[5] = ulen & 0xff;
	}
	for (unsigned i = data; i < ulen; i++)
		l4[i] = (uint8_t)i; /* pcapgen's payload */

	/* Pseudo-header (addresses, length, next header) plus the transport
	 * bytes, the checksum field still zero. */
	uint32_t s = ulen + proto;
	for (int i = 8; i < 40; i += 2)
		s += (uint32_t)ip[i] << 8 | ip[i + 1];
	for (unsigned i = 0; i < ulen; i += 2)
		s += (uint32_t)l4[i] << 8 | l4[i + 1];
	tmpl_sum = s;
}

/* stamp writes context k's ULID pair and the matching transport checksum
 * into a fresh copy of the template at p; with -t, its flow's segment of
 * cycle c. */
static inline void stamp(uint8_t *p, uint64_t k, uint64_t seed, uint32_t c)
{
	uint64_t host = (k & 0xffff) + 1;
	uint64_t peer = splitmix(seed ^ k * 0x9e3779b97f4a7c15ULL);
	uint32_t s = tmpl_sum + sum_be64(host) + sum_be64(peer);

	memcpy(p, tmpl, frame);
	put_be64(p + 14 + 16, host);
	put_be64(p + 14 + 32, peer);
	if (tcp) {
		uint32_t seq = (uint32_t)peer + c * SEGMENT;
		p[58] = seq >> 24;
		p[59] = seq >> 16;
		p[60] = seq >> 8;
		p[61] = seq;
		s += (seq >> 16) + (seq & 0xffff);
	}
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	uint16_t sum = (uint16_t)~s;
	if (sum == 0 && !tcp)
		sum = 0xffff; /* UDP's zero means no checksum */
	p[csum_at] = sum >> 8;
	p[csum_at + 1] = sum & 0xff;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s EAL-ARGS -- -n PAIRS [-q QUEUES] [-s SEED] [-t]\n", prog);
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

	uint64_t n = 0, seed = 1;
	unsigned nq = 1;
	int opt;
	while ((opt = getopt(argc, argv, "n:q:s:t")) != -1) {
		switch (opt) {
		case 't': tcp = 1; frame = FRAME_TCP; break;
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'q': nq = (unsigned)strtoul(optarg, NULL, 10); break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		default: usage(argv[0]);
		}
	}
	if (nq == 0 || nq > MAXQ || n < nq)
		usage(argv[0]);
	if (rte_eth_dev_count_avail() != 1) {
		fprintf(stderr, "shim6gen: want exactly one device (--vdev=net_memif0,role=server,...), have %u\n",
			rte_eth_dev_count_avail());
		return 2;
	}
	const uint16_t port = 0;
	struct rte_mempool *mp = rte_pktmbuf_pool_create("shim6gen_pool", 8191, 256, 0,
		RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (mp == NULL) {
		fprintf(stderr, "shim6gen: pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	/* memif refuses a client that sends on more rings than the server
	 * receives on, and shim6d sends on one tx queue per worker and one for
	 * its control core: take every ring the client offers. */
	if ((ret = rte_eth_dev_configure(port, MAXQ, nq, &conf)) != 0) {
		fprintf(stderr, "shim6gen: configure: %s\n", rte_strerror(-ret));
		return 1;
	}
	for (unsigned q = 0; q < MAXQ; q++) {
		if ((ret = rte_eth_rx_queue_setup(port, q, 1024, rte_socket_id(), NULL, mp)) != 0 ||
		    (q < nq && (ret = rte_eth_tx_queue_setup(port, q, 1024, rte_socket_id(), NULL)) != 0)) {
			fprintf(stderr, "shim6gen: queue %u: %s\n", q, rte_strerror(-ret));
			return 1;
		}
	}
	if ((ret = rte_eth_dev_start(port)) != 0) {
		fprintf(stderr, "shim6gen: start: %s\n", rte_strerror(-ret));
		return 1;
	}
	build_template();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGUSR1, on_signal);

	/* Queue q generates contexts q, q+nq, q+2nq, ... so that together the
	 * queues cycle through all N once per cycle, each with its own share. */
	/* tries and full count the sends and those that found the ring full:
	 * a source that never finds it full sets the pace itself, and the row
	 * measures it instead of the contender. SIGUSR1 prints them. */
	uint64_t next[MAXQ], sent = 0, back = 0, tries = 0, full = 0;
	uint32_t cycle[MAXQ] = {0};
	struct rte_mbuf *pend[MAXQ][BURST], *in[BURST];
	unsigned npend[MAXQ] = {0}, off[MAXQ] = {0};
	for (unsigned q = 0; q < nq; q++)
		next[q] = q;
	printf("shim6gen: %u queue(s), %" PRIu64 " pairs, seed %" PRIu64 "%s\n", nq, n, seed, tcp ? ", TCP" : "");
	fflush(stdout);

	while (!quit) {
		for (unsigned q = 0; q < nq; q++) {
			/* A full ring keeps its stamped packets waiting, so no
			 * context is skipped. */
			if (npend[q] == 0) {
				if (rte_pktmbuf_alloc_bulk(mp, pend[q], BURST) != 0)
					continue;
				for (unsigned i = 0; i < BURST; i++) {
					struct rte_mbuf *m = pend[q][i];
					stamp(rte_pktmbuf_mtod(m, uint8_t *), next[q], seed, cycle[q]);
					m->data_len = frame;
					m->pkt_len = frame;
					next[q] += nq;
					if (next[q] >= n) {
						next[q] = q;
						cycle[q]++;
					}
				}
				npend[q] = BURST;
				off[q] = 0;
			}
			uint16_t done = rte_eth_tx_burst(port, q, &pend[q][off[q]], npend[q]);
			tries++;
			full += done < npend[q];
			npend[q] -= done;
			off[q] += done;
			sent += done;
		}
		if (report) {
			report = 0;
			printf("shim6gen: sent %" PRIu64 " tries %" PRIu64 " full %" PRIu64 "\n", sent, tries, full);
			fflush(stdout);
		}
		/* Drain what comes back on our own rings (l3fwd's misses);
		 * a ring beyond them may not exist on this connection. */
		for (unsigned q = 0; q < nq; q++) {
			uint16_t got = rte_eth_rx_burst(port, q, in, BURST);
			if (got > 0) {
				rte_pktmbuf_free_bulk(in, got);
				back += got;
			}
		}
	}
	for (unsigned q = 0; q < nq; q++)
		rte_pktmbuf_free_bulk(&pend[q][off[q]], npend[q]);
	printf("shim6gen: %" PRIu64 " packets sent, %" PRIu64 " came back\n", sent, back);
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	rte_eal_cleanup();
	return 0;
}
