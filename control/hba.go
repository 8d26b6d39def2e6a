package control

import (
	"crypto/rsa"
	"errors"
	"fmt"
	"net/netip"

	"shim6d/configs"
	"shim6d/control/hba"
	"shim6d/control/shim6"
	"shim6d/control/wire"
)

// HBAVerifier checks peers' locator lists with HBA and CGA (RFC 5535,
// RFC 3972) for the Shim6 state machine: it is shim6.Verifier over package
// hba.
type HBAVerifier struct{}

// Why HBAVerifier refuses a locator list, or CGASigner cannot sign one,
// beyond the Reasons of package hba.
var (
	errULIDNotCGA       = errors.New("the ULID is not a CGA of the parameters, so their key cannot sign for it (RFC 3972 §6)")
	errCGAWithoutSigner = errors.New("no CGA key for this ULID")
)

// VerifyLocators implements shim6.Verifier (RFC 5533 §7.2): HBA locators
// must be in the HBA set of params (RFC 5535 §7.2); CGA locators must be
// covered by sig, a CGA Signature (RFC 3972 §6: RSASSA-PKCS1-v1_5 with
// SHA-1) from the key in params over the octets RFC 5533 §5.15.5 defines
// for list: the Shim6 CGA Message Type tag, the Locator List Generation
// and the CGA locators in list order. hba rebuilds those octets from list,
// so a signature made for other locators or another Generation fails. A
// refused locator comes back as a *shim6.LocatorError with its index and
// cause; a signature that fails names the first CGA locator it was to
// cover.
func (HBAVerifier) VerifyLocators(ulid netip.Addr, params []byte, list *wire.LocatorList, sig []byte) error {
	if list == nil || len(list.Locators) == 0 {
		// Only the binding of params to the ULID (RFC 5533 §7.13,
		// §10.4), which a plain CGA makes as well as an HBA set.
		return hba.VerifyULID(ulid, params)
	}
	res, err := hba.VerifyLocators(ulid, params, list, sig)
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

// CGASigner returns a shim6.Config.Sign that makes the CGA Signature of a
// proxied host's Locator List (RFC 5533 §5.15.5) with the private key key
// returns for its ULID, the key whose public half is in the host's CGA
// Parameters (RFC 3972 §6).
func CGASigner(key func(ulid netip.Addr) *rsa.PrivateKey) func(ulid netip.Addr, list *wire.LocatorList) ([]byte, error) {
	return func(ulid netip.Addr, list *wire.LocatorList) ([]byte, error) {
		priv := key(ulid)
		if priv == nil {
			return nil, fmt.Errorf("%v: %w", ulid, errCGAWithoutSigner)
		}
		return hba.SignLocators(nil, priv, list)
	}
}

// hbaHosts is the configured HBA sets as hba.Hosts, with the parameters
// and keys configs parsed when it validated them.
func hbaHosts(cfg *configs.Config) (hba.HostSet, error) {
	hosts := make([]hba.Host, 0, len(cfg.HBA))
	for i := range cfg.HBA {
		h := &cfg.HBA[i]
		if h.Params == nil {
			return nil, fmt.Errorf("%s: hba[%d]: parameters not parsed (a Config not from configs.Load or Parse?)", cfg.Source, i)
		}
		hosts = append(hosts, hba.Host{Params: h.Params, Addresses: h.Addresses, CGALocators: h.CGALocators, Key: h.PrivateKey})
	}
	return hba.NewHostSet(hosts), nil
}
