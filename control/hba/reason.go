package hba

// Reason says why an address, a locator or a whole Locator List failed
// verification (RFC 3972 §5, RFC 5535 §7.2, RFC 5533 §5.15.5 and §7.2).
// ReasonVerified, the zero value, means it passed. A Reason is an error, so
// the verification functions return one directly without allocating;
// String gives a short name for counters and Error a sentence for logs.
type Reason uint8

// Reasons, in the order the checks run.
const (
	// ReasonVerified means the check passed.
	ReasonVerified Reason = iota
	// ReasonMalformedParameters means the CGA Parameters do not parse
	// (RFC 3972 §3, RFC 5535 §5).
	ReasonMalformedParameters
	// ReasonNotIPv6 means the address is not a 128-bit IPv6 address, so it
	// has no 64-bit subnet prefix and interface identifier (RFC 3972 §2).
	ReasonNotIPv6
	// ReasonUnsupportedSec means Sec is above 2, for which RFC 5535 §6 and
	// §7 define no HBA procedure (RFC 4982 leaves those values to other
	// specifications).
	ReasonUnsupportedSec
	// ReasonCollisionCount means the collision count is not 0, 1 or 2
	// (RFC 3972 §5 step 1).
	ReasonCollisionCount
	// ReasonSubnetPrefix means the address's prefix differs from the Subnet
	// Prefix of the parameters (RFC 3972 §5 step 2).
	ReasonSubnetPrefix
	// ReasonNotInSet means the address's prefix is not in the Multi-Prefix
	// extension (RFC 5535 §7.2 step 1).
	ReasonNotInSet
	// ReasonHash1 means the interface identifier differs from Hash1 in a
	// bit that is compared (RFC 3972 §5 step 4).
	ReasonHash1
	// ReasonHash2 means fewer than 16·Sec leftmost bits of Hash2 are zero
	// (RFC 3972 §5 step 7).
	ReasonHash2
	// ReasonNoMultiPrefix means HBA verification was asked for parameters
	// without a Multi-Prefix extension (RFC 5533 §7.2: the method is
	// inconsistent with the parameters, Error Code 2).
	ReasonNoMultiPrefix
	// ReasonNoPublicKey means CGA verification was asked for parameters of
	// an HBA-only set, whose Public Key field holds a random Extended
	// Modifier (RFC 5535 §5 P flag; RFC 5533 §7.2, Error Code 2).
	ReasonNoPublicKey
	// ReasonUnknownMethod means the verification method is neither HBA nor
	// CGA (RFC 5533 §5.15.2 Table 4, §7.2, Error Code 2).
	ReasonUnknownMethod
	// ReasonListRefused means another locator's verification method made
	// the whole Locator List be ignored (RFC 5533 §7.2).
	ReasonListRefused
	// ReasonULIDNotBound means the ULID does not verify against the
	// parameters, so none of the locators is bound to it (RFC 5533 §7.13,
	// §7.2).
	ReasonULIDNotBound
	// ReasonNoSignature means a locator uses CGA verification but the
	// message has no CGA Signature (RFC 5533 §5.15.5).
	ReasonNoSignature
	// ReasonPublicKey means the Public Key field is not an RSA
	// SubjectPublicKeyInfo of at least 1024 bits (RFC 3972 §3).
	ReasonPublicKey
	// ReasonBadSignature means the CGA Signature does not verify with the
	// parameters' public key (RFC 3972 §6, RFC 5533 §5.15.5).
	ReasonBadSignature

	numReasons
)

// NumReasons is the number of Reason values, for sizing per-reason counter
// arrays.
const NumReasons = int(numReasons)

var reasonText = [numReasons]struct{ name, help string }{
	ReasonVerified:            {"verified", "verified"},
	ReasonMalformedParameters: {"malformed_parameters", "CGA Parameters do not parse (RFC 3972 §3)"},
	ReasonNotIPv6:             {"not_ipv6", "not an IPv6 address"},
	ReasonUnsupportedSec:      {"unsupported_sec", "Sec above 2 has no HBA procedure (RFC 5535 §7)"},
	ReasonCollisionCount:      {"collision_count", "collision count is not 0, 1 or 2 (RFC 3972 §5 step 1)"},
	ReasonSubnetPrefix:        {"subnet_prefix", "prefix differs from the Subnet Prefix (RFC 3972 §5 step 2)"},
	ReasonNotInSet:            {"not_in_set", "prefix is not in the Multi-Prefix extension (RFC 5535 §7.2 step 1)"},
	ReasonHash1:               {"hash1", "interface identifier differs from Hash1 (RFC 3972 §5 step 4)"},
	ReasonHash2:               {"hash2", "Hash2 lacks 16·Sec leading zero bits (RFC 3972 §5 step 7)"},
	ReasonNoMultiPrefix:       {"no_multi_prefix", "HBA method but the parameters have no Multi-Prefix extension (RFC 5533 §7.2)"},
	ReasonNoPublicKey:         {"no_public_key", "CGA method but the parameters hold no public key (RFC 5535 §5 P flag)"},
	ReasonUnknownMethod:       {"unknown_method", "verification method is neither HBA nor CGA (RFC 5533 §5.15.2)"},
	ReasonListRefused:         {"list_refused", "Locator List ignored for another locator's method (RFC 5533 §7.2)"},
	ReasonULIDNotBound:        {"ulid_not_bound", "ULID does not verify against the CGA Parameters (RFC 5533 §7.13)"},
	ReasonNoSignature:         {"no_signature", "CGA method but no CGA Signature (RFC 5533 §5.15.5)"},
	ReasonPublicKey:           {"public_key", "public key is not RSA of 1024 bits or more (RFC 3972 §3)"},
	ReasonBadSignature:        {"bad_signature", "CGA Signature does not verify (RFC 3972 §6)"},
}

// String returns the reason's short name, fit for a counter label; Error
// gives the RFC step.
func (r Reason) String() string {
	if r < numReasons {
		return reasonText[r].name
	}
	return "unknown"
}

// Error returns a sentence saying what failed, with the RFC step (RFC 3972
// §5, RFC 5535 §7.2, RFC 5533 §5.15.5, §7.2).
func (r Reason) Error() string {
	if r < numReasons {
		return reasonText[r].help
	}
	return "unknown verification failure"
}

// err returns r as an error, or nil for ReasonVerified, so callers never
// see a non-nil error that means success.
func (r Reason) err() error {
	if r == ReasonVerified {
		return nil
	}
	return r
}
