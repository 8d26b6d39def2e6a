package control

import (
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

// VerifyLocators implements shim6.Verifier. signed is not needed: hba
// derives the signed octets from the list itself (RFC 5533 §5.15.5), which
// for CGA-verified locators the machine's generation-free call cannot
// carry, so a list with CGA locators is refused here unless every locator
// is also in the HBA set.
func (HBAVerifier) VerifyLocators(ulid netip.Addr, params []byte, locs []wire.Locator, sig, _ []byte) error {
	if len(locs) == 0 {
		// Only the binding of params to the ULID (RFC 5533 §7.13).
		locs = []wire.Locator{{Addr: ulid, Method: wire.VerifyHBA}}
	}
	res, err := hba.VerifyLocators(ulid, params, &wire.LocatorList{Locators: locs}, sig)
	if err != nil {
		var le *hba.ListError
		if errors.As(err, &le) && le.Index >= 0 {
			return &shim6.LocatorError{Index: le.Index, Err: err}
		}
		return err
	}
	for i, r := range res.Locators {
		if r.Verdict == hba.Refused {
			return &shim6.LocatorError{Index: i, Err: fmt.Errorf("locator %s: %w", r.Addr, r.Reason)}
		}
	}
	return nil
}
