package control

import (
	"context"
	"crypto/rsa"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"shim6d/control/hba"
	"shim6d/control/shim6"
	"shim6d/control/wire"
	"shim6d/dataplane"
)

// Two Shim6 machines back to back with the daemon's verifier, for what
// shim6's own tests cannot show with their fake one: that HBA sets and CGA
// Signatures made by package hba pass HBAVerifier at the other end of a
// real I1/R1/I2/R2 exchange (RFC 5533 §7), encoded and decoded on the way.

// hsSite is one proxy: its machine and the locator sets of its hosts.
type hsSite struct {
	m     *shim6.Machine
	table *dataplane.ContextTable
	hosts map[netip.Addr]shim6.LocatorSet
}

type hsMessage struct {
	src, dst netip.Addr
	b        []byte
}

// hsNet delivers messages in order to the site that owns the destination's
// /64. Message buffers are reused, so the benchmark measures the machines,
// not the harness.
type hsNet struct {
	tb     testing.TB
	now    time.Time
	owner  map[[8]byte]*hsSite
	queue  []hsMessage
	free   [][]byte
	seq    byte
	encode error
}

func newHSNet(tb testing.TB) *hsNet {
	return &hsNet{tb: tb, now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), owner: map[[8]byte]*hsSite{}}
}

type chachaReader struct{ r *rand.ChaCha8 }

func (c chachaReader) Read(b []byte) (int, error) { return c.r.Read(b) }

// addSite makes a proxy for hosts with a table of capacity contexts,
// owning prefixes.
func (n *hsNet) addSite(capacity int, hosts map[netip.Addr]shim6.LocatorSet, sign func(netip.Addr, *wire.LocatorList) ([]byte, error), prefixes ...netip.Prefix) *hsSite {
	tab, err := dataplane.NewContextTable(capacity)
	if err != nil {
		n.tb.Fatal(err)
	}
	s := &hsSite{table: tab, hosts: hosts}
	for _, p := range prefixes {
		a := p.Addr().As16()
		n.owner[[8]byte(a[:8])] = s
	}
	n.seq++
	s.m, err = shim6.New(shim6.Config{
		Table:    tab,
		Send:     n.send,
		Now:      func() time.Time { return n.now },
		Verifier: HBAVerifier{},
		LocalLocators: func(ulid netip.Addr) (shim6.LocatorSet, error) {
			set, ok := s.hosts[ulid]
			if !ok {
				return shim6.LocatorSet{}, fmt.Errorf("%v is not ours", ulid)
			}
			return set, nil
		},
		Sign: sign,
		Rand: chachaReader{rand.NewChaCha8([32]byte{n.seq})},
		// Handshakes as fast as they go from one /64, on a clock that
		// does not move: the R1 limits are not what these test.
		R1Rate: 1 << 30, R1RatePerPrefix: 1 << 30,
	})
	if err != nil {
		n.tb.Fatal(err)
	}
	return s
}

func (n *hsNet) send(src, dst netip.Addr, msg wire.Message) {
	var buf []byte
	if k := len(n.free); k > 0 {
		buf, n.free = n.free[k-1], n.free[:k-1]
	}
	b, err := wire.Append(buf[:0], msg)
	if err != nil && n.encode == nil {
		n.encode = fmt.Errorf("%v from %v: %w", msg.Type(), src, err)
	}
	n.queue = append(n.queue, hsMessage{src, dst, b})
}

// run delivers until the queue is empty.
func (n *hsNet) run() {
	for i := 0; i < len(n.queue); i++ {
		if i > 1000 {
			n.tb.Fatal("the exchange does not settle")
		}
		msg := n.queue[i]
		a := msg.dst.As16()
		if s := n.owner[[8]byte(a[:8])]; s != nil {
			s.m.HandleMessage(msg.src, msg.dst, msg.b)
		}
		n.free = append(n.free, msg.b)
	}
	n.queue = n.queue[:0]
	if n.encode != nil {
		n.tb.Fatal(n.encode)
	}
}

var (
	prefixA1 = netip.MustParsePrefix("2001:db8:a1::/64")
	prefixA2 = netip.MustParsePrefix("2001:db8:a2::/64")
	prefixA3 = netip.MustParsePrefix("2001:db8:a3::/64") // outside A's HBA sets
	prefixB1 = netip.MustParsePrefix("2001:db8:b1::/64")
	prefixB2 = netip.MustParsePrefix("2001:db8:b2::/64")
)

// hbaHost makes a host's locator set the way a proxy announces it (RFC
// 5535 §8): an HBA set over two prefixes at Sec 0, the first address the
// ULID with its own parameters (§7.1), every address as an HBA locator.
// publicKey nil makes an HBA-only set.
func hbaHost(tb testing.TB, publicKey []byte, p1, p2 netip.Prefix) (netip.Addr, shim6.LocatorSet) {
	set, err := hba.GenerateHBASet(context.Background(), []netip.Prefix{p1, p2}, 0, publicKey, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ls := shim6.LocatorSet{Parameters: set.ParametersFor(0)}
	for _, a := range set.Addresses {
		ls.Locators = append(ls.Locators, wire.Locator{Addr: a, Method: wire.VerifyHBA})
	}
	return set.Addresses[0], ls
}

// TestHandshakeCGASigned: a host announces its HBA set and one locator
// outside it, signed by the set's key with the proxy's CGASigner; the peer
// proxy's HBAVerifier accepts the list (RFC 5533 §5.15.5, §7.13, §7.16),
// both ways. Signed by a key that is not the set's, the list is refused
// and no context comes up.
func TestHandshakeCGASigned(t *testing.T) {
	own, other := testKey(t, "rsa2048"), testKey(t, "other2048")
	for _, tc := range []struct {
		name   string
		signer *rsa.PrivateKey
		ok     bool
	}{
		{"the set's key", own.Private, true},
		{"another key", other.Private, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newHSNet(t)
			// Two hosts behind A, each with its set and the extra locator:
			// one for A to initiate from, its list going to B in the I2;
			// one for B to initiate to, its list coming back in the R2.
			extra := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x00, 0xa3, 8: 0x42, 15: 1})
			hostsA := map[netip.Addr]shim6.LocatorSet{}
			var ulidsA [2]netip.Addr
			for i := range ulidsA {
				u, set := hbaHost(t, own.Public, prefixA1, prefixA2)
				set.Locators = append(set.Locators, wire.Locator{Addr: extra, Method: wire.VerifyCGA})
				ulidsA[i], hostsA[u] = u, set
			}
			ulidB, setB := hbaHost(t, nil, prefixB1, prefixB2)
			sign := CGASigner(func(u netip.Addr) *rsa.PrivateKey {
				if _, ok := hostsA[u]; ok {
					return tc.signer
				}
				return nil
			})
			a := n.addSite(64, hostsA, sign, prefixA1, prefixA2, prefixA3)
			b := n.addSite(64, map[netip.Addr]shim6.LocatorSet{ulidB: setB}, nil, prefixB1, prefixB2)
			if err := a.m.Establish(ulidsA[0], ulidB); err != nil {
				t.Fatal(err)
			}
			n.run()
			if err := b.m.Establish(ulidB, ulidsA[1]); err != nil {
				t.Fatal(err)
			}
			n.run()

			for _, u := range ulidsA {
				got, ok := b.m.Context(ulidB, u)
				if !tc.ok {
					if ok && got.State == shim6.Established {
						t.Fatalf("%v: established with a list signed by another key", u)
					}
					continue
				}
				if !ok || got.State != shim6.Established {
					t.Fatalf("%v: B's context %+v, want established (B refused %d lists)", u, got, b.m.Stats.VerificationFailures.Load())
				}
				if len(got.PeerLocators) != 3 || got.PeerLocators[2] != extra {
					t.Fatalf("%v: B holds Ls(peer) %v, want A's set and %v", u, got.PeerLocators, extra)
				}
			}
			if !tc.ok && b.m.Stats.VerificationFailures.Load() == 0 {
				t.Fatal("B counted no refused list")
			}
		})
	}
}
