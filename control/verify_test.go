package control

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"shim6d/control/hba"
	"shim6d/control/shim6"
	"shim6d/control/wire"
)

// TestHBAVerifier: a peer's HBA set verifies; a locator outside it, or
// another set's parameters, is refused, naming the locator (RFC 5535 §7.2,
// RFC 5533 §7.2).
func TestHBAVerifier(t *testing.T) {
	set, err := hba.GenerateHBASet(context.Background(), []netip.Prefix{
		netip.MustParsePrefix("2001:db8:3::/64"), netip.MustParsePrefix("2001:db8:4::/64")}, 0, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ulid := set.Addresses[0]
	params := set.ParametersFor(0)
	list := []wire.Locator{{Addr: set.Addresses[0], Method: wire.VerifyHBA}, {Addr: set.Addresses[1], Method: wire.VerifyHBA}}
	v := HBAVerifier{}
	if err := v.VerifyLocators(ulid, params, list, nil, nil); err != nil {
		t.Fatalf("the host's own set refused: %v", err)
	}
	if err := v.VerifyLocators(ulid, params, nil, nil, nil); err != nil {
		t.Fatalf("the parameters' binding to the ULID refused: %v", err)
	}
	foreign := append(list[:1:1], wire.Locator{Addr: netip.MustParseAddr("2001:db8:9::1"), Method: wire.VerifyHBA})
	var le *shim6.LocatorError
	if err := v.VerifyLocators(ulid, params, foreign, nil, nil); !errors.As(err, &le) || le.Index != 1 {
		t.Fatalf("foreign locator: %v", err)
	}
	other, _ := hba.GenerateHBASet(context.Background(), []netip.Prefix{netip.MustParsePrefix("2001:db8:3::/64")}, 0, nil, nil)
	if err := v.VerifyLocators(ulid, other.ParametersFor(0), list, nil, nil); err == nil {
		t.Fatal("another host's parameters accepted for this ULID")
	}
}
