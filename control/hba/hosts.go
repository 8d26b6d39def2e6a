package hba

import (
	"crypto/rsa"
	"net/netip"

	"shim6d/control/wire"
)

// Host is a proxied host's locator material from configuration: its HBA
// set (RFC 5535 §3), the addresses of the set it uses, locators outside
// the set that a key signs for (a CGA-compatible set, RFC 5535 §4), and
// that key, nil when the set has no CGA locators to sign for.
type Host struct {
	Params      *Parameters
	Addresses   []netip.Addr
	CGALocators []netip.Addr
	Key         *rsa.PrivateKey
}

// HostSet finds a proxied host by any address of its set, so that the
// signalling can ask for a host's locators by the ULID it uses.
type HostSet map[netip.Addr]*Host

// NewHostSet indexes hosts by their addresses.
func NewHostSet(hosts []Host) HostSet {
	s := HostSet{}
	for i := range hosts {
		h := &hosts[i]
		for _, a := range h.Addresses {
			s[a] = h
		}
	}
	return s
}

// Locators returns the locator set a host announces for ulid (RFC 5533
// §5.15.1, RFC 5535 §7.1): the ULID first, as it is the locator in use
// until REAP moves, then the set's other addresses (verified by HBA), then
// the CGA locators; and the CGA Parameter Data Structure for ulid. A host
// not in the set has its ULID alone: no locators and no parameters.
func (s HostSet) Locators(ulid netip.Addr) ([]wire.Locator, []byte, error) {
	h := s[ulid]
	if h == nil {
		return nil, nil, nil
	}
	params, err := h.Params.ParametersFor(ulid)
	if err != nil {
		return nil, nil, err
	}
	locs := make([]wire.Locator, 0, len(h.Addresses)+len(h.CGALocators))
	locs = append(locs, wire.Locator{Addr: ulid, Method: wire.VerifyHBA})
	for _, a := range h.Addresses {
		if a != ulid {
			locs = append(locs, wire.Locator{Addr: a, Method: wire.VerifyHBA})
		}
	}
	for _, a := range h.CGALocators {
		locs = append(locs, wire.Locator{Addr: a, Method: wire.VerifyCGA})
	}
	return locs, params, nil
}

// Key returns the private key that signs for ulid's CGA locators, or nil.
func (s HostSet) Key(ulid netip.Addr) *rsa.PrivateKey {
	if h := s[ulid]; h != nil {
		return h.Key
	}
	return nil
}
