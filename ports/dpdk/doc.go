// Package dpdk is shim6d's own thin cgo binding to DPDK 22.11 (Debian's
// libdpdk-dev): EAL start-up, packet mbuf pools, ethdev ports and rte_rings,
// as the ports.Port and ports.Ring interfaces the workers and the control
// core use.
//
// # Crossing into C
//
// Every fast-path call crosses into C once per burst, never per packet
// (DPDK's rx/tx/free/ring functions are static inline, so small wrappers in
// shim.c call them). The rte_mbuf pointer arrays rte_eth_rx_burst and
// rte_eth_tx_burst need live in C memory, allocated once per rx and tx
// queue: a Go array of mbuf pointers handed to C would be scanned by cgo's
// pointer check on every call (DESIGN §10: an empty rx burst costs about
// 155 ns that way, 35 ns with C memory). Packets cross as ports.Packet
// values, which hold only integers (mbuf address, buffer address and
// length, data offset and length, port): the C side fills the caller's
// Packet array in place on rx, Alloc and ring dequeue, and reads it in
// place on tx, Free and ring enqueue, writing Off and Len back into the
// mbuf. C's struct shim6_pkt has Packet's layout, which fastpath.go checks
// at compile time. Pointer-free memory costs cgo's check nothing, "#cgo
// noescape" keeps a caller's stack array on its stack, and there is no
// record array in between to copy through (measured on the 2-core lab
// machine: BenchmarkRxTxNull/lcore 40-54 ns a packet, from 56-57 with
// per-queue record arrays that Go copied to and from).
//
// # Linking and drivers
//
// The package links DPDK's shared libraries through "#cgo pkg-config:
// libdpdk", with no extra flags. In Debian's build the poll-mode drivers
// (net_null, net_ring, net_pcap, net_af_packet, net_tap, the PCI NIC
// drivers), the vdev bus, and even the ring_mp_mc mempool driver that
// every pktmbuf pool needs are plugins, not libraries the program links:
// they live in /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0 (RTE_EAL_PMD_PATH
// in rte_build_config.h). A program linked against the shared librte_eal
// loads every plugin in that directory during rte_eal_init, so
// --vdev=net_null0 and friends work without -d and without naming any
// driver library at link time (checked: the test binary links no PMD,
// yet dlopens all 128 plugins at EAL start-up). Where that directory is
// missing or elsewhere, pass "-d DIR" or "-d /path/to/librte_net_X.so" in
// the EAL args. Linking statically (pkg-config --static) would instead need
// each driver's archive wrapped in -Wl,--whole-archive, because drivers
// register themselves from constructors nothing else references; we do not
// do that.
//
// net_tap logs "All rt-signals are in use" at start-up: it looks for a
// real-time signal without a handler to wake its rx interrupt mode, and
// the Go runtime handles them all. We poll, so the port works regardless.
//
// # DPDK's log
//
// EALInit points DPDK's log stream (rte_openlog_stream) at a stdio cookie
// stream whose writes come back to Go, line by line: SetLogger's logger
// gets them at debug level (stderr without one), and the recent ones are
// kept. An Error then carries what DPDK said about its failure as Cause:
// rte_eal_init's complaint, a driver's reason for not creating a device
// EAL was given (EAL logs it and goes on without the device, so without the
// log the only symptom is "no such device" later), or what a driver logged
// while a port was being set up.
//
// # Threads
//
// EALInit retires the thread rte_eal_init pins to the main lcore. Workers
// lock their own OS threads, pin them with SetThreadAffinity and take an
// lcore id with RegisterThread, rather than being launched by
// rte_eal_remote_launch; thread.go says why. Give EAL one lcore ("-l 0")
// and take the workers' CPUs from our config.
//
// # Tests
//
// The tests start EAL once per test binary (TestMain) with --no-huge
// --no-pci -m 512, a file prefix that includes the process id, and
// net_ring and net_null vdevs; they need root.
package dpdk
