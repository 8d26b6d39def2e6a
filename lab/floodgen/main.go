// Command floodgen sends a flood at a shim6d uplink from inside the lab:
// frames of one of bench/attack's kinds (unknown-tag, i1, malformed), from
// random sources under -src to random addresses under -dst, written raw to
// an interface (AF_PACKET), as fast as the kernel takes them or at -rate.
// It sends only on the interface it is given, so run it inside a lab
// namespace (ip netns exec s6-inet floodgen ...).
//
//	floodgen -iface i-a1 -dmac MAC -kind i1 -src 2001:db8:ee::/48 -dst 2001:db8:1::/48 [-count N] [-seconds S] [-rate PPS]
//
// It prints one line: the frames sent, the seconds it took and the rate.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"

	"shim6d/bench/attack"
)

func main() {
	iface := flag.String("iface", "", "interface to send on")
	dmacS := flag.String("dmac", "", "destination MAC (the shim6d uplink's)")
	kind := flag.String("kind", "i1", "flood kind: unknown-tag, i1 or malformed")
	srcS := flag.String("src", "2001:db8:ee::/48", "prefix the spoofed sources are drawn from")
	dstS := flag.String("dst", "", "prefix the destinations are drawn from (the site's)")
	count := flag.Int("count", 100000, "frames to send at most")
	seconds := flag.Float64("seconds", 10, "stop after this long at most")
	rate := flag.Int("rate", 0, "frames a second (0: as fast as the kernel takes them)")
	size := flag.Int("size", 78, "frame size in bytes")
	flag.Parse()
	if err := run(*iface, *dmacS, *kind, *srcS, *dstS, *count, *seconds, *rate, *size); err != nil {
		fmt.Fprintln(os.Stderr, "floodgen:", err)
		os.Exit(1)
	}
}

func run(iface, dmacS, kind, srcS, dstS string, count int, seconds float64, rate, size int) error {
	gen, err := attack.Lookup(kind)
	if err != nil {
		return err
	}
	src, err := netip.ParsePrefix(srcS)
	if err != nil {
		return fmt.Errorf("-src: %w", err)
	}
	dst, err := netip.ParsePrefix(dstS)
	if err != nil {
		return fmt.Errorf("-dst: %w", err)
	}
	hw, err := net.ParseMAC(dmacS)
	if err != nil || len(hw) != 6 {
		return fmt.Errorf("-dmac %q: want a MAC", dmacS)
	}
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return err
	}
	var smac [6]byte
	copy(smac[:], ifi.HardwareAddr)
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, 0) // send only: no protocol to receive
	if err != nil {
		return fmt.Errorf("AF_PACKET socket (needs root): %w", err)
	}
	defer syscall.Close(fd)
	sa := &syscall.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6, Protocol: htons(syscall.ETH_P_IPV6)}
	copy(sa.Addr[:], hw)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	start := time.Now()
	deadline := start.Add(time.Duration(seconds * float64(time.Second)))
	sent := 0
	for sent < count {
		if sent%256 == 0 {
			now := time.Now()
			if now.After(deadline) {
				break
			}
			if rate > 0 {
				if ahead := time.Duration(float64(sent)/float64(rate)*float64(time.Second)) - now.Sub(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
		f, err := gen(rng, sent, size, [6]byte(hw), smac, attack.RandomIn(rng, src), attack.RandomIn(rng, dst))
		if err != nil {
			return err
		}
		if err := syscall.Sendto(fd, f, 0, sa); err != nil {
			if err == syscall.ENOBUFS || err == syscall.EAGAIN {
				continue // the queue is full: that is the flood's ceiling
			}
			return err
		}
		sent++
	}
	d := time.Since(start).Seconds()
	fmt.Printf("sent %d %s frames in %.2f s (%.0f/s)\n", sent, kind, d, float64(sent)/d)
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
