package control

import (
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"shim6d/control/hba"
	"shim6d/control/shim6"
	"shim6d/control/wire"
)

// HBAVerifier checks peers' locator lists with HBA and CGA (RFC 5535,
// RFC 3972) for the Shim6 state machine: it is shim6.Verifier over package
// hba.
type HBAVerifier struct{}

// Why the octets the machine says a CGA Signature covers cannot be the ones
// RFC 5533 §5.15.5 defines for the Locator List at hand.
var (
	errNoSignedOctets   = errors.New("CGA Signature without the octets it covers")
	errSignedTag        = errors.New("signed octets do not start with the Shim6 CGA Message Type tag (RFC 5533 §5.15.5)")
	errSignedLocator    = errors.New("CGA Signature does not cover this locator (RFC 5533 §5.15.5)")
	errSignedExtra      = errors.New("CGA Signature covers locators the list does not carry (RFC 5533 §5.15.5)")
	errULIDNotCGA       = errors.New("the ULID is not a CGA of the parameters, so their key cannot sign for it (RFC 3972 §6)")
	errCGAWithoutSigner = errors.New("no CGA key for this ULID")
)

// VerifyLocators implements shim6.Verifier (RFC 5533 §7.2): HBA locators
// must be in the HBA set of params (RFC 5535 §7.2); CGA locators must be
// covered by sig, a CGA Signature (RFC 3972 §6: RSASSA-PKCS1-v1_5 with
// SHA-1 over the Shim6 CGA Message Type tag and the message) from the key
// in params, over signed, which must be exactly the octets RFC 5533
// §5.15.5 defines for locs: the tag, the Locator List Generation and the
// CGA locators in list order. A refused locator comes back as a
// *shim6.LocatorError with its index and cause; a signature that fails
// names the first CGA locator it was to cover.
func (HBAVerifier) VerifyLocators(ulid netip.Addr, params []byte, locs []wire.Locator, sig, signed []byte) error {
	if len(locs) == 0 {
		// Only the binding of params to the ULID (RFC 5533 §7.13,
		// §10.4), which a plain CGA makes as well as an HBA set.
		return hba.VerifyULID(ulid, params)
	}
	list := wire.LocatorList{Locators: locs}
	firstCGA := -1
	for i, l := range locs {
		if l.Method == wire.VerifyCGA {
			firstCGA = i
			break
		}
	}
	if firstCGA >= 0 && sig != nil {
		// The machine hands over the signed octets, not the Generation
		// itself; hba rebuilds the octets from the list, so a signature
		// made for other locators cannot pass for these.
		gen, i, err := signedGeneration(locs, signed)
		if err != nil {
			return &shim6.LocatorError{Index: i, Err: fmt.Errorf("locator %s: %w", locs[i].Addr, err)}
		}
		list.Generation = gen
	}
	res, err := hba.VerifyLocators(ulid, params, &list, sig)
	if err != nil {
		var le *hba.ListError
		if errors.As(err, &le) && le.Index >= 0 {
			return &shim6.LocatorError{Index: le.Index, Err: err}
		}
		return err
	}
	// hba binds the ULID by HBA when params are another address's of its
	// set (RFC 5535 §7.2), but RFC 3972 §6 wants the signer's address to
	// pass CGA verification itself before its key vouches for anything.
	var ulidCGA error
	if res.CGA > 0 {
		ulidCGA = res.Params.VerifyCGA(ulid)
	}
	for i, r := range res.Locators {
		switch {
		case r.Verdict == hba.Refused:
			return &shim6.LocatorError{Index: i, Err: fmt.Errorf("locator %s: %w", r.Addr, r.Reason)}
		case r.Verdict == hba.VerifiedCGA && ulidCGA != nil:
			return &shim6.LocatorError{Index: i, Err: fmt.Errorf("locator %s: %w: %w", r.Addr, errULIDNotCGA, ulidCGA)}
		}
	}
	return nil
}

// signedGeneration checks that signed is what RFC 5533 §5.15.5 has a CGA
// Signature cover for locs (the Shim6 tag, a Locator List Generation, then
// every CGA locator of locs in order and nothing else) and returns the
// Generation. On a mismatch it returns the index of the CGA locator the
// octets fail to cover, or of the first one when the fault is not about a
// locator. locs holds at least one CGA locator.
func signedGeneration(locs []wire.Locator, signed []byte) (uint32, int, error) {
	first := 0
	for locs[first].Method != wire.VerifyCGA {
		first++
	}
	const head = len(wire.CGAMessageTag) + 4
	if len(signed) == 0 {
		return 0, first, errNoSignedOctets
	}
	if len(signed) < head || [16]byte(signed[:16]) != wire.CGAMessageTag {
		return 0, first, errSignedTag
	}
	rest := signed[head:]
	for i, l := range locs {
		if l.Method != wire.VerifyCGA {
			continue
		}
		if len(rest) < 16 || [16]byte(rest[:16]) != l.Addr.As16() {
			return 0, i, errSignedLocator
		}
		rest = rest[16:]
	}
	if len(rest) != 0 {
		return 0, first, errSignedExtra
	}
	return binary.BigEndian.Uint32(signed[16:head]), -1, nil
}

// CGASigner returns a shim6.Config.Sign that makes the CGA Signature of a
// proxied host's Locator List (RFC 5533 §5.15.5) with the private key key
// returns for its ULID, the key whose public half is in the host's CGA
// Parameters (RFC 3972 §6). The machine's signed octets start with the
// Shim6 tag, which RFC 3972 §6 has the signer put in front of the message,
// so the tag is checked and not doubled.
func CGASigner(key func(ulid netip.Addr) *rsa.PrivateKey) func(ulid netip.Addr, signed []byte) ([]byte, error) {
	return func(ulid netip.Addr, signed []byte) ([]byte, error) {
		tag := len(wire.CGAMessageTag)
		if len(signed) < tag || [16]byte(signed[:tag]) != wire.CGAMessageTag {
			return nil, errSignedTag
		}
		priv := key(ulid)
		if priv == nil {
			return nil, fmt.Errorf("%v: %w", ulid, errCGAWithoutSigner)
		}
		return hba.Sign(nil, priv, wire.CGAMessageTag, signed[tag:])
	}
}
