package hba

import (
	"errors"
	"fmt"
	"net/netip"

	"shim6d/control/wire"
)

// Verdict is how a locator of a Locator List ended up (RFC 5533 §7.2).
type Verdict uint8

const (
	// Refused means the locator is not bound to the ULID (RFC 5533 §7.2);
	// LocatorResult.Reason says why.
	Refused Verdict = iota
	// VerifiedHBA means the locator is in the HBA set of the CGA
	// Parameters (RFC 5535 §7.2).
	VerifiedHBA
	// VerifiedCGA means the locator is covered by a valid CGA Signature
	// from the CGA Parameters' key (RFC 5533 §5.15.5, RFC 3972 §6).
	VerifiedCGA
)

// String names the verdict after the verification method that passed (RFC
// 5533 §5.15.2 Table 4), or "refused".
func (v Verdict) String() string {
	switch v {
	case VerifiedHBA:
		return "hba"
	case VerifiedCGA:
		return "cga"
	}
	return "refused"
}

// LocatorResult is the outcome for one locator of a Locator List (RFC 5533
// §5.15.2).
type LocatorResult struct {
	// Addr is the locator.
	Addr netip.Addr
	// Method is the verification method the sender listed for it.
	Method wire.VerificationMethod
	// Verdict says whether and how it was verified.
	Verdict Verdict
	// Reason says why it was refused; ReasonVerified otherwise.
	Reason Reason
}

// Result is the outcome of verifying a Locator List against a ULID and its
// CGA Parameters (RFC 5533 §7.2).
type Result struct {
	// Locators has one entry per listed locator, in list order (the order
	// Locator Preferences refer to, RFC 5533 §5.15.3).
	Locators []LocatorResult
	// HBA, CGA and Refused count the locators by verdict.
	HBA, CGA, Refused int
	// Params is the parsed CGA Parameters, for the context to keep (RFC
	// 5533 §10.4); nil when they did not parse.
	Params *Parameters
}

// OK reports whether every locator was verified, by HBA or by CGA Signature
// (RFC 5533 §7.2).
func (r *Result) OK() bool { return r.Refused == 0 }

// ListError is returned when a whole Locator List is refused: the CGA
// Parameters do not parse, the ULID is not bound to them (RFC 5533 §7.13,
// §10.4), or a verification method does not fit them (RFC 5533 §7.2: the
// list and its message are ignored and an Error with Error Code 2 is due).
// errors.Is matches it against its Reason.
type ListError struct {
	// Reason is ReasonMalformedParameters, ReasonCollisionCount,
	// ReasonULIDNotBound, or the method reason of locator Index.
	Reason Reason
	// Index is the locator whose verification method is inconsistent, for
	// the Error message's Pointer (wire.LocatorListMethodOffset + Index);
	// -1 when the failure is not about a method.
	Index int
	// Err is the underlying failure: the codec's error for malformed
	// parameters, the ULID's Reason for ReasonULIDNotBound.
	Err error
}

// Error describes the failure with its RFC step.
func (e *ListError) Error() string {
	s := "hba: Locator List refused: " + e.Reason.Error()
	if e.Index >= 0 {
		s += fmt.Sprintf(" (locator %d)", e.Index)
	}
	if e.Err != nil && e.Err != e.Reason {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the Reason and the underlying error, for errors.Is.
func (e *ListError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Reason}
	}
	return []error{e.Reason, e.Err}
}

// ErrorCode2 reports whether the failure calls for a Shim6 Error message
// with Error Code 2, "Invalid verification method" (RFC 5533 §5.14, §7.2),
// whose Pointer is at the method octet of locator Index.
func (e *ListError) ErrorCode2() bool { return e.Index >= 0 }

// VerifyLocators parses params, the contents of a CGA Parameter Data
// Structure option (RFC 5533 §5.15.4), and verifies list against ulid with
// them; see Parameters.VerifyLocators. Result.Params holds the parsed
// parameters for the context to keep.
func VerifyLocators(ulid netip.Addr, params []byte, list *wire.LocatorList, signature []byte) (Result, error) {
	p, err := ParseParameters(params)
	if err != nil {
		var r Reason
		if !errors.As(err, &r) {
			r = ReasonMalformedParameters
		}
		return refuseAll(list, r), &ListError{Reason: r, Index: -1, Err: err}
	}
	return p.VerifyLocators(ulid, list, signature)
}

// VerifyLocators verifies the peer's Locator List (RFC 5533 §5.15.2, §7.2)
// sent with these CGA Parameters for the peer's ulid, and signature, the
// CGA Signature option's contents (RFC 5533 §5.15.5; nil when absent). In
// order:
//
//  1. Every verification method must fit the parameters: HBA needs a
//     Multi-Prefix extension, CGA needs a real public key, nothing else is
//     defined. Otherwise the whole list is refused with a *ListError whose
//     Index points at the first offending method (Error Code 2).
//  2. The ULID must verify against the parameters (RFC 5533 §7.13, §10.4):
//     CGA verification when its prefix is the Subnet Prefix, HBA
//     verification otherwise. Otherwise every locator is refused with
//     ReasonULIDNotBound.
//  3. Each HBA locator must be in the HBA set (RFC 5535 §7.2): one SHA-1.
//  4. If any locator uses CGA, signature must verify with the parameters'
//     RSA key over the Shim6 tag, the Locator List Generation and the CGA
//     locators in order (RFC 5533 §5.15.5, RFC 3972 §6); it covers them
//     all or none.
//
// Per-locator failures of steps 3 and 4 are reported in the Result, not as
// an error: the caller decides whether to drop the message or only those
// locators, and counts each Reason.
func (p *Parameters) VerifyLocators(ulid netip.Addr, list *wire.LocatorList, signature []byte) (Result, error) {
	var locs []wire.Locator
	if list != nil {
		locs = list.Locators
	}
	// Step 1, before anything costs a hash (RFC 5533 §7.13 checks the
	// methods before the PDS).
	cga := 0
	for i, l := range locs {
		var r Reason
		switch l.Method {
		case wire.VerifyHBA:
			if !p.multi {
				r = ReasonNoMultiPrefix
			}
		case wire.VerifyCGA:
			if !p.keyIn {
				r = ReasonNoPublicKey
			}
			cga++
		default:
			r = ReasonUnknownMethod
		}
		if r != ReasonVerified {
			res := refuseAll(list, ReasonListRefused)
			res.Locators[i].Reason = r
			res.Params = p
			return res, &ListError{Reason: r, Index: i}
		}
	}
	// Step 2.
	if err := p.verifyULID(ulid); err != nil {
		res := refuseAll(list, ReasonULIDNotBound)
		res.Params = p
		return res, &ListError{Reason: ReasonULIDNotBound, Index: -1, Err: err}
	}
	res := Result{Locators: make([]LocatorResult, len(locs)), Params: p}
	// Step 4 first, so that step 3 fills in every verdict in one pass.
	cgaReason := ReasonVerified
	if cga > 0 {
		cgaReason = p.verifyLocatorSignature(list, signature)
	}
	for i, l := range locs {
		r := &res.Locators[i]
		r.Addr, r.Method = l.Addr, l.Method
		if l.Method == wire.VerifyHBA {
			if err := p.VerifyHBA(l.Addr); err != nil {
				r.Reason = err.(Reason)
			} else {
				r.Verdict = VerifiedHBA
			}
		} else if r.Reason = cgaReason; cgaReason == ReasonVerified {
			r.Verdict = VerifiedCGA
		}
		switch r.Verdict {
		case VerifiedHBA:
			res.HBA++
		case VerifiedCGA:
			res.CGA++
		default:
			res.Refused++
		}
	}
	return res, nil
}

// verifyULID checks that the parameters belong to the ULID (RFC 5533 §7.13:
// "corresponds to the ULID(peer)"). Parameters made for the ULID itself
// pass CGA verification (RFC 5535 §7.1); those of another address of the
// HBA set pass HBA verification (§7.2). Either is one SHA-1.
// VerifyULID reports whether params bind ulid, with no locator list to
// check: as a CGA of them (RFC 3972 §5), or, for parameters with an HBA
// set, as a member of it (RFC 5535 §7.2). It is the check RFC 5533 §7.13
// and §10.4 ask for when a message carries parameters alone.
func VerifyULID(ulid netip.Addr, params []byte) error {
	p, err := ParseParameters(params)
	if err != nil {
		return err
	}
	return p.verifyULID(ulid)
}

func (p *Parameters) verifyULID(ulid netip.Addr) error {
	if !ulid.Is6() {
		return ReasonNotIPv6
	}
	b := ulid.As16()
	if !p.multi || [8]byte(p.raw[subnetPrefixOff:collisionCountOff]) == [8]byte(b[:8]) {
		return p.VerifyCGA(ulid)
	}
	return p.VerifyHBA(ulid)
}

// verifyLocatorSignature checks the CGA Signature of list (RFC 5533
// §5.15.5). The ULID's binding to the key, which RFC 3972 §6 asks for
// first, is step 2 of VerifyLocators.
func (p *Parameters) verifyLocatorSignature(list *wire.LocatorList, signature []byte) Reason {
	if len(signature) == 0 {
		return ReasonNoSignature
	}
	pub, err := p.PublicKey()
	if err != nil {
		return err.(Reason)
	}
	if err := verifyDigest(pub, locatorDigest(list), signature); err != nil {
		return err.(Reason)
	}
	return ReasonVerified
}

// refuseAll is the Result of a list refused as a whole: every locator
// Refused with reason.
func refuseAll(list *wire.LocatorList, reason Reason) Result {
	var res Result
	if list == nil {
		return res
	}
	res.Locators = make([]LocatorResult, len(list.Locators))
	for i, l := range list.Locators {
		res.Locators[i] = LocatorResult{Addr: l.Addr, Method: l.Method, Reason: reason}
	}
	res.Refused = len(list.Locators)
	return res
}

// Covers reports whether every address is in the HBA set of the parameters
// (RFC 5535 §7.2), so that a Locator List of them can use HBA throughout and
// needs no CGA Signature (RFC 5533 §5.15.5).
func (p *Parameters) Covers(addrs []netip.Addr) bool {
	for _, a := range addrs {
		if p.VerifyHBA(a) != nil {
			return false
		}
	}
	return true
}

// LocatorList builds our own Locator List (RFC 5533 §5.15.2) from addrs for
// these parameters: HBA for each address in the HBA set (RFC 5535 §7.2),
// CGA for the others, which then need SignLocators with the parameters'
// private key. It fails with ReasonNoPublicKey when an address is outside
// an HBA-only set, which nothing can vouch for (RFC 5535 §4).
func (p *Parameters) LocatorList(generation uint32, addrs []netip.Addr) (*wire.LocatorList, error) {
	l := &wire.LocatorList{Generation: generation, Locators: make([]wire.Locator, len(addrs))}
	for i, a := range addrs {
		l.Locators[i] = wire.Locator{Addr: a, Method: wire.VerifyHBA}
		if p.VerifyHBA(a) != nil {
			if !p.keyIn {
				return nil, fmt.Errorf("hba: locator %v is outside an HBA-only set: %w", a, ReasonNoPublicKey)
			}
			l.Locators[i].Method = wire.VerifyCGA
		}
	}
	return l, nil
}
