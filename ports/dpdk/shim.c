/* For cpu_set_t and pthread_setaffinity_np, which DPDK's rte_cpuset_t needs. */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <sched.h>

#include <rte_prefetch.h>
#include <rte_thread.h>

#include "shim.h"

/*
 * rte_errno is thread-local, so every wrapper that can fail reads it on the
 * thread that made the call and hands it back as a negative return value;
 * Go could not read it reliably after the call returns. Some failures leave
 * it unset (rte_eal_init's "Cannot init config" when another process holds
 * the file prefix's lock returns -1 with rte_errno 0): failed_errno turns
 * that into EFAULT, so a failure never reads as success. Each wrapper
 * clears rte_errno first, so a stale value is not reported either.
 */
static inline int failed_errno(void)
{
	return rte_errno != 0 ? rte_errno : EFAULT;
}

int shim6_eal_init(int argc, char **argv)
{
	rte_errno = 0;
	int ret = rte_eal_init(argc, argv);
	return ret < 0 ? -failed_errno() : ret;
}

int shim6_eal_cleanup(void)
{
	rte_errno = 0;
	int ret = rte_eal_cleanup();
	return ret < 0 ? -failed_errno() : 0;
}

int shim6_thread_register(void)
{
	rte_errno = 0;
	if (rte_thread_register() < 0)
		return -failed_errno();
	return (int)rte_lcore_id();
}

int shim6_lcore_id(void)
{
	unsigned id = rte_lcore_id();
	return id == LCORE_ID_ANY ? -1 : (int)id;
}

int shim6_set_affinity(const int *cpus, int n)
{
	rte_cpuset_t set;
	int ret;

	CPU_ZERO(&set);
	for (int i = 0; i < n; i++) {
		if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE)
			return -EINVAL;
		CPU_SET(cpus[i], &set);
	}
	/*
	 * rte_thread_set_affinity loses the error code, so set the mask
	 * directly first; then let DPDK record the mask and the socket it
	 * implies for this thread (rte_socket_id).
	 */
	ret = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (ret != 0)
		return -ret;
	if (rte_thread_set_affinity(&set) != 0)
		return -EINVAL;
	return 0;
}

struct rte_mempool *shim6_pool_create(const char *name, unsigned n, unsigned cache,
				      uint16_t data_room, int socket, int *err)
{
	rte_errno = 0;
	struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, 0, data_room, socket);
	if (mp == NULL)
		*err = failed_errno();
	return mp;
}

struct rxq_priv {
	struct shim6_rxq pub; /* first: Go's pointer is to this */
	struct rte_mbuf *mbufs[SHIM6_MAX_BURST];
};

struct txq_priv {
	struct shim6_txq pub;
	struct rte_mbuf *mbufs[SHIM6_MAX_BURST];
};

struct shim6_ring {
	struct rte_ring *ring;
	void *objs[SHIM6_MAX_BURST]; /* the single consumer's */
};

struct shim6_rxq *shim6_rxq_new(uint16_t port, uint16_t queue, uint16_t index, int socket)
{
	struct rxq_priv *q = rte_zmalloc_socket(NULL, sizeof(*q), RTE_CACHE_LINE_SIZE, socket);
	if (q == NULL)
		return NULL;
	q->pub.port_id = port;
	q->pub.queue_id = queue;
	q->pub.index = index;
	return &q->pub;
}

struct shim6_txq *shim6_txq_new(uint16_t port, uint16_t queue, int socket)
{
	struct txq_priv *q = rte_zmalloc_socket(NULL, sizeof(*q), RTE_CACHE_LINE_SIZE, socket);
	if (q == NULL)
		return NULL;
	q->pub.port_id = port;
	q->pub.queue_id = queue;
	return &q->pub;
}

struct shim6_ring *shim6_ring_create(const char *name, unsigned count, int *err)
{
	struct shim6_ring *r = rte_zmalloc(NULL, sizeof(*r), RTE_CACHE_LINE_SIZE);
	if (r == NULL) {
		*err = ENOMEM;
		return NULL;
	}
	/*
	 * RING_F_EXACT_SZ: the ring holds exactly count entries, so a
	 * configured size means what it says and need not be a power of two.
	 */
	rte_errno = 0;
	r->ring = rte_ring_create(name, count, SOCKET_ID_ANY, RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (r->ring == NULL) {
		*err = failed_errno();
		rte_free(r);
		return NULL;
	}
	return r;
}

void shim6_ring_free(struct shim6_ring *r)
{
	rte_ring_free(r->ring);
	rte_free(r);
}

int shim6_port_configure(uint16_t port, uint16_t nrx, uint16_t ntx, uint64_t rss_hf)
{
	struct rte_eth_conf conf;

	memset(&conf, 0, sizeof(conf));
	if (rss_hf != 0) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
	}
	return rte_eth_dev_configure(port, nrx, ntx, &conf);
}

int shim6_dev_info(uint16_t port, uint16_t *max_rx, uint16_t *max_tx, uint64_t *rss)
{
	struct rte_eth_dev_info info;
	int ret = rte_eth_dev_info_get(port, &info);
	if (ret != 0)
		return ret;
	*max_rx = info.max_rx_queues;
	*max_tx = info.max_tx_queues;
	*rss = info.flow_type_rss_offloads;
	return 0;
}

/* Go cannot read the bit-fields of struct rte_eth_link. */
int shim6_link(uint16_t port, int *up, uint32_t *speed)
{
	struct rte_eth_link link;
	int ret;

	memset(&link, 0, sizeof(link));
	ret = rte_eth_link_get_nowait(port, &link);
	if (ret != 0)
		return ret;
	*up = link.link_status == RTE_ETH_LINK_UP;
	*speed = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
	return 0;
}

int shim6_mac(uint16_t port, uint8_t *mac)
{
	struct rte_ether_addr a;
	int ret = rte_eth_macaddr_get(port, &a);
	if (ret != 0)
		return ret;
	memcpy(mac, a.addr_bytes, RTE_ETHER_ADDR_LEN);
	return 0;
}

int shim6_stats_get(uint16_t port, struct shim6_stats *s)
{
	struct rte_eth_stats st;
	int ret = rte_eth_stats_get(port, &st);
	if (ret != 0)
		return ret;
	s->ipackets = st.ipackets;
	s->opackets = st.opackets;
	s->ibytes = st.ibytes;
	s->obytes = st.obytes;
	s->imissed = st.imissed;
	s->ierrors = st.ierrors;
	s->oerrors = st.oerrors;
	s->rx_nombuf = st.rx_nombuf;
	return 0;
}

static inline void fill_pkt(struct shim6_pkt *p, struct rte_mbuf *m, uint16_t port)
{
	p->mbuf = (uintptr_t)m;
	p->buf_addr = (uintptr_t)m->buf_addr;
	p->data_off = m->data_off;
	p->data_len = m->data_len;
	p->buf_len = m->buf_len;
	p->port = port;
}

/* Go's view of the frame back into the mbuf, single segment. */
static inline struct rte_mbuf *store_pkt(const struct shim6_pkt *p)
{
	struct rte_mbuf *m = (struct rte_mbuf *)p->mbuf;
	m->data_off = p->data_off;
	m->data_len = p->data_len;
	m->pkt_len = p->data_len;
	return m;
}

/*
 * The bursts, with the bytes they moved: the C loops read every mbuf's
 * length anyway, where a sum costs one add and no register Go lacks.
 */
static inline uint16_t rx_burst(struct shim6_rxq *q, struct shim6_pkt *out, uint16_t n, uint32_t *bytes)
{
	struct rte_mbuf **ms = ((struct rxq_priv *)q)->mbufs;
	uint16_t got = rte_eth_rx_burst(q->port_id, q->queue_id, ms, n);
	uint16_t k = 0;
	uint32_t sum = 0;

	for (uint16_t i = 0; i < got; i++) {
		struct rte_mbuf *m = ms[i];
		/*
		 * Ports are configured without scatter, so a chain is a
		 * device's oddity; Go views a packet as one slice and cannot
		 * handle it.
		 */
		if (unlikely(m->nb_segs != 1)) {
			rte_pktmbuf_free(m);
			q->multiseg_drops++;
			continue;
		}
		/* Go has no prefetch; the worker reads the headers next. */
		rte_prefetch0(rte_pktmbuf_mtod(m, void *));
		fill_pkt(&out[k++], m, q->index);
		sum += m->data_len;
	}
	*bytes = sum;
	return k;
}

static inline uint16_t tx_burst(struct shim6_txq *q, const struct shim6_pkt *in, uint16_t n, uint32_t *bytes)
{
	struct rte_mbuf **ms = ((struct txq_priv *)q)->mbufs;
	uint32_t sum = 0;
	uint16_t sent;

	for (uint16_t i = 0; i < n; i++) {
		ms[i] = store_pkt(&in[i]);
		sum += in[i].data_len;
	}
	sent = rte_eth_tx_burst(q->port_id, q->queue_id, ms, n);
	/* A queue that refuses part of a burst is the rare case. */
	for (uint16_t i = sent; i < n; i++)
		sum -= in[i].data_len;
	*bytes = sum;
	return sent;
}

uint16_t shim6_rx_burst(struct shim6_rxq *q, struct shim6_pkt *out, uint16_t n)
{
	n = RTE_MIN(n, (uint16_t)SHIM6_MAX_BURST); /* the arrays below hold that many */
	uint32_t bytes;

	return rx_burst(q, out, n, &bytes);
}

uint16_t shim6_tx_burst(struct shim6_txq *q, const struct shim6_pkt *in, uint16_t n)
{
	n = RTE_MIN(n, (uint16_t)SHIM6_MAX_BURST); /* the arrays below hold that many */
	uint32_t bytes;

	return tx_burst(q, in, n, &bytes);
}

/*
 * Go fills the indexes and counts; masking and clamping them costs a few
 * instructions a port and keeps a bug there from reaching past the round.
 */
#define ROUND_BUF(r, b) ((r)->bufs[(b) & (2 * SHIM6_MAX_PORTS - 1)])
_Static_assert((2 * SHIM6_MAX_PORTS & (2 * SHIM6_MAX_PORTS - 1)) == 0, "round buffers: a power of 2");

unsigned shim6_round(const struct shim6_round_queues *q, struct shim6_round *r, int rx)
{
	uint16_t n = RTE_MIN(q->n, (uint16_t)SHIM6_MAX_PORTS);
	unsigned total = 0;
	uint16_t i;

	for (i = 0; i < n; i++) {
		uint16_t k = RTE_MIN(r->ntx[i], (uint16_t)SHIM6_MAX_BURST);

		r->sent[i] = 0;
		r->tx_bytes[i] = 0;
		if (k != 0)
			r->sent[i] = tx_burst((struct shim6_txq *)q->tx[i],
					      ROUND_BUF(r, r->tx_buf[i]), k, &r->tx_bytes[i]);
	}
	for (i = 0; rx && i < n; i++) {
		r->nrx[i] = rx_burst((struct shim6_rxq *)q->rx[i],
				     ROUND_BUF(r, r->rx_buf[i]), SHIM6_MAX_BURST, &r->rx_bytes[i]);
		total += r->nrx[i];
	}
	return total;
}

uint16_t shim6_alloc(uintptr_t pool, struct shim6_pkt *out, uint16_t n, uint16_t port)
{
	n = RTE_MIN(n, (uint16_t)SHIM6_MAX_BURST); /* the arrays below hold that many */
	struct rte_mempool *mp = (struct rte_mempool *)pool;
	struct rte_mbuf *ms[SHIM6_MAX_BURST];
	uint16_t got = n;

	if (rte_pktmbuf_alloc_bulk(mp, ms, n) != 0) {
		/* The bulk call is all or nothing; take what there is. */
		for (got = 0; got < n; got++) {
			ms[got] = rte_pktmbuf_alloc(mp);
			if (ms[got] == NULL)
				break;
		}
	}
	for (uint16_t i = 0; i < got; i++)
		fill_pkt(&out[i], ms[i], port);
	return got;
}

void shim6_free(const struct shim6_pkt *in, uint16_t n)
{
	n = RTE_MIN(n, (uint16_t)SHIM6_MAX_BURST); /* the arrays below hold that many */
	struct rte_mbuf *ms[SHIM6_MAX_BURST];

	for (uint16_t i = 0; i < n; i++)
		ms[i] = (struct rte_mbuf *)in[i].mbuf;
	rte_pktmbuf_free_bulk(ms, n);
}

unsigned shim6_ring_mp_enqueue(struct shim6_ring *r, const struct shim6_pkt *in, unsigned n)
{
	n = RTE_MIN(n, (unsigned)SHIM6_MAX_BURST); /* the arrays below hold that many */
	/*
	 * Producers run concurrently, so the pointer array is on this call's
	 * stack rather than in per-ring memory.
	 */
	void *objs[SHIM6_MAX_BURST];

	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = store_pkt(&in[i]);
		m->port = in[i].port;
		objs[i] = m;
	}
	return rte_ring_mp_enqueue_burst(r->ring, objs, n, NULL);
}

unsigned shim6_ring_sc_dequeue(struct shim6_ring *r, struct shim6_pkt *out, unsigned n)
{
	n = RTE_MIN(n, (unsigned)SHIM6_MAX_BURST); /* the arrays below hold that many */
	unsigned got = rte_ring_sc_dequeue_burst(r->ring, r->objs, n, NULL);

	for (unsigned i = 0; i < got; i++) {
		struct rte_mbuf *m = r->objs[i];
		rte_prefetch0(rte_pktmbuf_mtod(m, void *));
		fill_pkt(&out[i], m, m->port);
	}
	return got;
}

unsigned shim6_ring_count(struct shim6_ring *r)
{
	return rte_ring_count(r->ring);
}

unsigned shim6_ring_capacity(struct shim6_ring *r)
{
	return rte_ring_get_capacity(r->ring);
}
