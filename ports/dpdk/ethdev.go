package dpdk

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"shim6d/ports"
)

// defaultDesc is the ring size used when PortConfig leaves RxDesc or TxDesc
// zero; rte_eth_dev_adjust_nb_rx_tx_desc then fits it to the device.
const defaultDesc = 1024

// rssIPv6 is what we ask the device to hash on when spreading rx over
// several queues: IPv6 addresses for every IPv6 packet (Shim6 payload and
// control packets have no L4 header the NIC can find), plus ports for TCP
// and UDP so that one busy host pair still spreads. The request is masked
// with what the device supports.
const rssIPv6 = C.RTE_ETH_RSS_IPV6 | C.RTE_ETH_RSS_FRAG_IPV6 | C.RTE_ETH_RSS_IPV6_EX |
	C.RTE_ETH_RSS_NONFRAG_IPV6_TCP | C.RTE_ETH_RSS_NONFRAG_IPV6_UDP |
	C.RTE_ETH_RSS_NONFRAG_IPV6_OTHER

// maxL2Overhead is the Ethernet header plus one VLAN tag: what a frame
// carries beyond the IP MTU (the CRC is stripped before it reaches us).
const maxL2Overhead = C.RTE_ETHER_HDR_LEN + C.RTE_VLAN_HLEN

// PortConfig says how to open one DPDK ethdev.
type PortConfig struct {
	// Index is our index of the port; RxBurst stores it in Packet.Port.
	Index uint16
	// Name is the operator's name (Port.Name).
	Name string
	// Device is the DPDK device name: "net_null0" and the like for a
	// virtual device created with --vdev in the EAL args, or a PCI
	// address such as "0000:03:00.0".
	Device string
	// Devargs are the device's arguments as given to EAL; an af_packet
	// device's iface= names the kernel interface whose carrier Link adds
	// to the device's own status.
	Devargs string
	// RxQueues and TxQueues are the numbers of queues; 0 means 1.
	RxQueues, TxQueues uint16
	// RxDesc and TxDesc are the descriptor ring sizes per queue;
	// 0 means 1024. Both are fitted to the device's limits.
	RxDesc, TxDesc uint16
	// MTU is the IP MTU to set; 0 leaves what rte_eth_dev_configure
	// gives (DPDK's default, 1500). A device that cannot set its MTU
	// (ENOTSUP, as net_ring) keeps its own, which MTU then reports.
	MTU int
	// Promiscuous puts the port in promiscuous mode; without it the port
	// takes every multicast group (all-multicast), which Neighbor
	// Discovery needs.
	Promiscuous bool
	// MAC, when not zero, is set as the device's MAC before it starts
	// (rte_eth_dev_default_mac_addr_set); a device that refuses fails the
	// open.
	MAC [6]byte
	// VirtualMAC, when not zero, is an HA pair's shared MAC: added as a
	// secondary address (rte_eth_dev_mac_addr_add) so that a port out of
	// promiscuous mode receives frames to it. A promiscuous port receives
	// them anyway and adds nothing.
	VirtualMAC [6]byte
	// Pool supplies the rx buffers and Alloc's buffers.
	Pool *Mempool
}

// Port is an opened, started DPDK ethdev. It implements ports.Port.
//
// RxBurst and TxBurst on one queue must be called by one goroutine at a
// time (each queue's burst arrays are its own); Alloc and Free may be called
// from any number of goroutines at once. No method but Close may be called
// after Close, and no burst call after Stop.
type Port struct {
	cfg    PortConfig
	obj    string // for error messages: port "name" (device)
	id     C.uint16_t
	socket int
	rss    uint64
	pool   *C.struct_rte_mempool
	rxq    []*C.struct_shim6_rxq
	txq    []*C.struct_shim6_txq
	state  int // 0 configured, 1 started, 2 stopped, 3 closed
	// carrier, when set, is the kernel interface's carrier (see
	// kernelCarrier), asked besides the device's link status.
	carrier func() bool
}

var _ ports.Port = (*Port)(nil)

// opened maps the DPDK port ids of open Ports to their operator's names.
// Opening a started device again would fail with a bare EBUSY from
// rte_eth_dev_configure, and opening a stopped one would take it from
// under its first owner; the map turns both into a clear error.
var opened struct {
	sync.Mutex
	names map[uint16]string
}

// OpenPort finds cfg.Device, configures it (RSS over IPv6 when the device
// supports it and RxQueues > 1; no scatter, no offloads), sets up its queues
// with buffers from cfg.Pool, applies MTU and promiscuous mode and starts
// it.
func OpenPort(cfg PortConfig) (*Port, error) {
	p := &Port{cfg: cfg, obj: portObject(cfg.Name, cfg.Device), carrier: kernelCarrier(cfg.Device, cfg.Devargs)}
	if cfg.Pool == nil || cfg.Pool.mp == nil {
		return nil, fmt.Errorf("dpdk: %s: no mempool given", p.obj)
	}
	p.pool = cfg.Pool.mp
	if p.cfg.RxQueues == 0 {
		p.cfg.RxQueues = 1
	}
	if p.cfg.TxQueues == 0 {
		p.cfg.TxQueues = 1
	}
	if p.cfg.RxDesc == 0 {
		p.cfg.RxDesc = defaultDesc
	}
	if p.cfg.TxDesc == 0 {
		p.cfg.TxDesc = defaultDesc
	}

	dev := C.CString(cfg.Device)
	ret := C.rte_eth_dev_get_port_by_name(dev, &p.id)
	C.free(unsafe.Pointer(dev))
	if ret != 0 {
		return nil, missingDevice(p.obj, cfg.Device, ret)
	}
	opened.Lock()
	if other, ok := opened.names[uint16(p.id)]; ok {
		opened.Unlock()
		return nil, fmt.Errorf("dpdk: %s: device already opened as port %q", p.obj, other)
	}
	if opened.names == nil {
		opened.names = map[uint16]string{}
	}
	opened.names[uint16(p.id)] = cfg.Name
	opened.Unlock()
	mark := logMark()
	if err := p.open(); err != nil {
		opened.Lock()
		delete(opened.names, uint16(p.id))
		opened.Unlock()
		// A driver that refuses a queue or a start logs why.
		var de *Error
		if errors.As(err, &de) && de.Cause == "" {
			de.Cause = logSince(mark)
		}
		return nil, err
	}
	return p, nil
}

// open does OpenPort's work once the device is found and claimed.
func (p *Port) open() error {
	cfg := p.cfg
	p.socket = int(C.rte_eth_dev_socket_id(p.id))

	var maxRx, maxTx C.uint16_t
	var rssCapa C.uint64_t
	if ret := C.shim6_dev_info(p.id, &maxRx, &maxTx, &rssCapa); ret != 0 {
		return newError(p.obj, "rte_eth_dev_info_get", ret)
	}
	if p.cfg.RxQueues > uint16(maxRx) || p.cfg.TxQueues > uint16(maxTx) {
		return fmt.Errorf("dpdk: %s: %d rx and %d tx queues asked for, the device has at most %d and %d",
			p.obj, p.cfg.RxQueues, p.cfg.TxQueues, maxRx, maxTx)
	}
	if p.cfg.RxQueues > 1 {
		p.rss = uint64(rssCapa) & rssIPv6
	}
	if cfg.MTU != 0 {
		room := int(C.rte_pktmbuf_data_room_size(p.pool)) - ports.Headroom
		if cfg.MTU < C.RTE_ETHER_MIN_MTU || cfg.MTU+maxL2Overhead > room {
			return fmt.Errorf("dpdk: %s: MTU %d does not fit: it must be at least %d, and a frame (MTU + %d) must fit one %d-byte mbuf of pool %q, since ports run without scatter",
				p.obj, cfg.MTU, C.RTE_ETHER_MIN_MTU, maxL2Overhead, room, cfg.Pool.name)
		}
	}

	if ret := C.shim6_port_configure(p.id, C.uint16_t(p.cfg.RxQueues), C.uint16_t(p.cfg.TxQueues), C.uint64_t(p.rss)); ret != 0 {
		return newError(p.obj, "rte_eth_dev_configure", ret)
	}
	// From here a failure must undo the configuration and free C memory.
	if err := p.setup(); err != nil {
		p.release()
		return err
	}
	return nil
}

func (p *Port) setup() error {
	nrxd, ntxd := C.uint16_t(p.cfg.RxDesc), C.uint16_t(p.cfg.TxDesc)
	if ret := C.rte_eth_dev_adjust_nb_rx_tx_desc(p.id, &nrxd, &ntxd); ret != 0 {
		return newError(p.obj, "rte_eth_dev_adjust_nb_rx_tx_desc", ret)
	}
	p.cfg.RxDesc, p.cfg.TxDesc = uint16(nrxd), uint16(ntxd)

	if p.cfg.MTU != 0 {
		ret := C.rte_eth_dev_set_mtu(p.id, C.uint16_t(p.cfg.MTU))
		if ret != 0 && ret != -C.ENOTSUP {
			return newError(p.obj, fmt.Sprintf("rte_eth_dev_set_mtu(%d)", p.cfg.MTU), ret)
		}
	}
	if err := p.setMACs(); err != nil {
		return err
	}

	// The burst arrays live in C memory on the port's socket: passing a
	// Go array of mbuf pointers to C would make cgo's pointer check scan
	// it on every call (DESIGN §10: ~155 ns per empty rx burst versus ~35).
	sock := sockOrAny(p.socket)
	for q := range p.cfg.RxQueues {
		rq := C.shim6_rxq_new(p.id, C.uint16_t(q), C.uint16_t(p.cfg.Index), sock)
		if rq == nil {
			return &Error{Object: p.obj, Op: "rte_zmalloc_socket(rx queue)", Errno: C.ENOMEM}
		}
		p.rxq = append(p.rxq, rq)
		if ret := C.rte_eth_rx_queue_setup(p.id, C.uint16_t(q), nrxd, C.uint(sock), nil, p.pool); ret != 0 {
			return newError(p.obj, fmt.Sprintf("rte_eth_rx_queue_setup(queue %d)", q), ret)
		}
	}
	for q := range p.cfg.TxQueues {
		tq := C.shim6_txq_new(p.id, C.uint16_t(q), sock)
		if tq == nil {
			return &Error{Object: p.obj, Op: "rte_zmalloc_socket(tx queue)", Errno: C.ENOMEM}
		}
		p.txq = append(p.txq, tq)
		if ret := C.rte_eth_tx_queue_setup(p.id, C.uint16_t(q), ntxd, C.uint(sock), nil); ret != 0 {
			return newError(p.obj, fmt.Sprintf("rte_eth_tx_queue_setup(queue %d)", q), ret)
		}
	}

	if ret := C.rte_eth_dev_start(p.id); ret != 0 {
		return newError(p.obj, "rte_eth_dev_start", ret)
	}
	p.state = 1
	if p.cfg.Promiscuous {
		if ret := C.rte_eth_promiscuous_enable(p.id); ret != 0 {
			return newError(p.obj, "rte_eth_promiscuous_enable", ret)
		}
	} else if ret := C.rte_eth_allmulticast_enable(p.id); ret != 0 && ret != -C.ENOTSUP {
		// Out of promiscuous mode a NIC keeps only the multicast groups
		// in its filter, and Neighbor Discovery's solicited-node groups
		// are one per address: take every group and let the workers
		// keep the ones the port listens to (dataplane.Accepts). A
		// device without the switch delivers what it delivers.
		return newError(p.obj, "rte_eth_allmulticast_enable", ret)
	}
	return nil
}

// setMACs applies the configured MAC and adds the virtual one.
func (p *Port) setMACs() error {
	if m := p.cfg.MAC; m != ([6]byte{}) {
		a := etherAddr(m)
		if ret := C.rte_eth_dev_default_mac_addr_set(p.id, &a); ret != 0 {
			e := newError(p.obj, fmt.Sprintf("rte_eth_dev_default_mac_addr_set(%s)", macText(m)), ret).(*Error)
			e.Hint = "the device does not take this MAC; delete the port's mac key to keep the device's own, or set the MAC on the NIC (a VF's MAC may be fixed by its PF: ip link set PF vf N mac ...)"
			return e
		}
		if got := p.MAC(); got != m {
			return &Error{Object: p.obj, Op: "rte_eth_dev_default_mac_addr_set(" + macText(m) + ")", Errno: int(C.EIO),
				Hint: "the device reports " + macText(got) + " afterwards; delete the port's mac key to keep the device's own"}
		}
	}
	if m := p.cfg.VirtualMAC; m != ([6]byte{}) && !p.cfg.Promiscuous {
		a := etherAddr(m)
		if ret := C.rte_eth_dev_mac_addr_add(p.id, &a, 0); ret != 0 {
			e := newError(p.obj, fmt.Sprintf("rte_eth_dev_mac_addr_add(%s)", macText(m)), ret).(*Error)
			e.Hint = "the device cannot receive a second MAC out of promiscuous mode; set promiscuous = true on the port (shim6d still takes only frames addressed to it)"
			return e
		}
	}
	return nil
}

// allMulticast reports whether the device takes every multicast group
// (rte_eth_allmulticast_get).
func (p *Port) allMulticast() bool { return C.rte_eth_allmulticast_get(p.id) == 1 }

// etherAddr is m as DPDK's struct rte_ether_addr.
func etherAddr(m [6]byte) C.struct_rte_ether_addr {
	var a C.struct_rte_ether_addr
	for i, b := range m {
		a.addr_bytes[i] = C.uint8_t(b)
	}
	return a
}

// macText is m as six colon-separated hex bytes, for messages.
func macText(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// sockOrAny maps rte_eth_dev_socket_id's "unknown" (-1) to SOCKET_ID_ANY
// (also -1 today, but that is DPDK's to define).
func sockOrAny(s int) C.int {
	if s < 0 {
		return C.SOCKET_ID_ANY
	}
	return C.int(s)
}

// Name returns the operator's name of the port.
func (p *Port) Name() string { return p.cfg.Name }

// Config returns the configuration the port was opened with, with defaults
// filled in and descriptor counts as fitted to the device.
func (p *Port) Config() PortConfig { return p.cfg }

// DPDKPortID returns the DPDK port id (not our Index).
func (p *Port) DPDKPortID() uint16 { return uint16(p.id) }

// SocketID returns the NUMA socket the device is attached to, or -1 when
// DPDK does not know (virtual devices).
func (p *Port) SocketID() int { return p.socket }

// RSS returns the RTE_ETH_RSS_* hash functions in use, or 0 when rx is not
// spread by RSS (one rx queue, or a device without IPv6 RSS).
func (p *Port) RSS() uint64 { return p.rss }

// Link reports the link state without waiting (rte_eth_link_get_nowait).
// A device that cannot tell reports down; an af_packet device is down
// too while its kernel interface has no carrier.
func (p *Port) Link() ports.LinkStatus {
	var up C.int
	var speed C.uint32_t
	if C.shim6_link(p.id, &up, &speed) != 0 {
		return ports.LinkStatus{}
	}
	return ports.LinkStatus{Up: up != 0 && (p.carrier == nil || p.carrier()), SpeedMbps: uint32(speed)}
}

// MAC returns the port's Ethernet address (rte_eth_macaddr_get).
func (p *Port) MAC() [6]byte {
	var mac [6]byte
	C.shim6_mac(p.id, (*C.uint8_t)(unsafe.Pointer(&mac[0])))
	return mac
}

// MTU returns the device's IP MTU (rte_eth_dev_get_mtu; DPDK's MTU excludes
// the Ethernet header, like ours).
func (p *Port) MTU() int {
	var mtu C.uint16_t
	if C.rte_eth_dev_get_mtu(p.id, &mtu) != 0 {
		return 0
	}
	return int(mtu)
}

// Stats returns the device counters (rte_eth_stats_get). Packets RxBurst
// dropped for being chained are counted as received here; see
// RxMultiSegDrops.
func (p *Port) Stats() ports.Stats {
	var s C.struct_shim6_stats
	if C.shim6_stats_get(p.id, &s) != 0 {
		return ports.Stats{}
	}
	return ports.Stats{
		RxPackets: uint64(s.ipackets),
		TxPackets: uint64(s.opackets),
		RxBytes:   uint64(s.ibytes),
		TxBytes:   uint64(s.obytes),
		RxMissed:  uint64(s.imissed),
		RxErrors:  uint64(s.ierrors),
		TxErrors:  uint64(s.oerrors),
		RxNoMbuf:  uint64(s.rx_nombuf),
	}
}

// ResetStats zeroes the device counters (rte_eth_stats_reset).
func (p *Port) ResetStats() error {
	if ret := C.rte_eth_stats_reset(p.id); ret != 0 {
		return newError(p.obj, "rte_eth_stats_reset", ret)
	}
	return nil
}

// RxMultiSegDrops returns how many chained (multi-segment) mbufs RxBurst
// has dropped: the port runs without scatter, and a chain cannot be viewed
// as one slice. Each queue's poller writes its own counter; this sums
// plain loads of aligned 64-bit words, which cannot tear on the 64-bit
// targets DPDK supports, so the total is at worst a little stale.
func (p *Port) RxMultiSegDrops() uint64 {
	var n uint64
	for _, q := range p.rxq {
		n += uint64(q.multiseg_drops)
	}
	return n
}

// Stop stops the device (rte_eth_dev_stop); no queue may be polled after.
func (p *Port) Stop() error {
	if p.state != 1 {
		return nil
	}
	if ret := C.rte_eth_dev_stop(p.id); ret != 0 {
		// Still started: Close must try the stop again, not close a
		// running device.
		return newError(p.obj, "rte_eth_dev_stop", ret)
	}
	p.state = 2
	return nil
}

// Close stops the device, closes it (rte_eth_dev_close) and frees the
// port's C memory. The mbufs the device held go back to the pool.
func (p *Port) Close() error {
	if p.state == 3 {
		return nil
	}
	err := p.Stop()
	if e := p.release(); err == nil {
		err = e
	}
	return err
}

// release closes the device and frees the burst arrays. A device that is
// already gone (a vdev removed with hotplug) is not an error here.
func (p *Port) release() error {
	if p.state == 1 {
		C.rte_eth_dev_stop(p.id)
	}
	p.state = 3
	var err error
	if ret := C.rte_eth_dev_close(p.id); ret != 0 && !errors.Is(newError("", "", ret), syscall.ENODEV) {
		err = newError(p.obj, "rte_eth_dev_close", ret)
	}
	for _, q := range p.rxq {
		C.rte_free(unsafe.Pointer(q))
	}
	for _, q := range p.txq {
		C.rte_free(unsafe.Pointer(q))
	}
	p.rxq, p.txq = nil, nil
	opened.Lock()
	delete(opened.names, uint16(p.id))
	opened.Unlock()
	return err
}
