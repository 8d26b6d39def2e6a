package wire_test

import (
	"testing"

	"shim6d/control/wire"
)

// TestAppendCGASigned checks the octets a CGA Signature covers against
// RFC 5533 §5.15.5, written out by hand: the 128-bit CGA Message Type tag
// for Shim6 as the RFC prints it, the Locator List Generation of the
// Locator List option, then only the locators whose verification method
// is CGA, in list order; HBA locators and the methods themselves are not
// signed.
func TestAppendCGASigned(t *testing.T) {
	list := &wire.LocatorList{Generation: 0x01020304, Locators: []wire.Locator{
		{Addr: addr("2001:db8:1::1"), Method: wire.VerifyHBA},
		{Addr: addr("2001:db8:e::99"), Method: wire.VerifyCGA},
		{Addr: addr("2001:db8:2::1"), Method: wire.VerifyHBA},
		{Addr: addr("2001:db8:d::1"), Method: wire.VerifyCGA},
	}}
	golden := hexBytes(`
		4A30 5662 4858 574B 3655 416F 506A 6D48
		01020304
		20010db8 000e0000 00000000 00000099
		20010db8 000d0000 00000000 00000001`)
	if got := wire.AppendCGASigned(nil, list); string(got) != string(golden) {
		t.Fatalf("signed octets\n got %x\nwant %x", got, golden)
	}
	if string(wire.CGAMessageTag[:]) != string(golden[:16]) {
		t.Fatalf("CGAMessageTag %x, want %x", wire.CGAMessageTag, golden[:16])
	}
	// Appends: what dst holds stays in front.
	if got := wire.AppendCGASigned([]byte{0xaa}, list); got[0] != 0xaa || string(got[1:]) != string(golden) {
		t.Fatalf("appended to one octet: %x", got)
	}
	// No CGA locator: the tag and the Generation alone.
	hbaOnly := &wire.LocatorList{Generation: 7, Locators: list.Locators[:1]}
	want := append(golden[:16:16], 0, 0, 0, 7)
	if got := wire.AppendCGASigned(nil, hbaOnly); string(got) != string(want) {
		t.Fatalf("HBA-only list: %x, want %x", got, want)
	}
}
