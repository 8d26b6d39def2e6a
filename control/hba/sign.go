package hba

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"net/netip"

	"shim6d/control/wire"
)

// Shim6MessageTag is the 128-bit CGA Message Type tag of Shim6 (RFC 5533
// §5.15.5 and §16), which prefixes everything a Shim6 CGA Signature signs
// (RFC 3972 §6). It is a variable only because Go has no array constants;
// do not modify it.
var Shim6MessageTag = [16]byte{
	0x4a, 0x30, 0x56, 0x62, 0x48, 0x58, 0x57, 0x4b,
	0x36, 0x55, 0x41, 0x6f, 0x50, 0x6a, 0x6d, 0x48,
}

// Sign makes a CGA signature (RFC 3972 §6): RSASSA-PKCS1-v1_5 with SHA-1 by
// priv over the 128-bit type tag followed by message. PKCS #1 v1.5
// signatures are deterministic; rand may be nil.
func Sign(rand io.Reader, priv *rsa.PrivateKey, tag [16]byte, message []byte) ([]byte, error) {
	d := sha1.New()
	d.Write(tag[:])
	d.Write(message)
	return signDigest(rand, priv, d)
}

// VerifySignature checks a CGA signature (RFC 3972 §6) over tag and message
// made by the key of the parameters, after verifying that addr is the CGA of
// those parameters (RFC 3972 §5), as the RFC requires. It returns nil or a
// Reason.
func (p *Parameters) VerifySignature(addr netip.Addr, tag [16]byte, message, signature []byte) error {
	if err := p.VerifyCGA(addr); err != nil {
		return err
	}
	pub, err := p.PublicKey()
	if err != nil {
		return err
	}
	d := sha1.New()
	d.Write(tag[:])
	d.Write(message)
	return verifyDigest(pub, d, signature)
}

// AppendSignedLocators appends the octets a Shim6 CGA Signature covers for a
// Locator List (RFC 5533 §5.15.5) after the Shim6 tag: the Locator List
// Generation, then the locators whose verification method is CGA, in list
// order. SignLocators and VerifyLocators hash the same octets without
// building them; this is for tools and tests.
func AppendSignedLocators(dst []byte, list *wire.LocatorList) []byte {
	dst = binary.BigEndian.AppendUint32(dst, list.Generation)
	for _, l := range list.Locators {
		if l.Method == wire.VerifyCGA {
			a := l.Addr.As16()
			dst = append(dst, a[:]...)
		}
	}
	return dst
}

// SignLocators makes the CGA Signature option's contents for list (RFC 5533
// §5.15.5): a CGA signature (RFC 3972 §6) with Shim6MessageTag over the
// Locator List Generation and the locators whose method is CGA. priv is the
// key of the CGA Parameters sent with the list.
func SignLocators(rand io.Reader, priv *rsa.PrivateKey, list *wire.LocatorList) ([]byte, error) {
	if list == nil {
		return nil, errors.New("hba: no Locator List to sign")
	}
	return signDigest(rand, priv, locatorDigest(list))
}

// locatorDigest hashes the Shim6 tag and the signed part of list (RFC 5533
// §5.15.5) straight from the list, so verification builds no buffer.
func locatorDigest(list *wire.LocatorList) hash.Hash {
	d := sha1.New()
	d.Write(Shim6MessageTag[:])
	var b [16]byte
	binary.BigEndian.PutUint32(b[:4], list.Generation)
	d.Write(b[:4])
	for _, l := range list.Locators {
		if l.Method == wire.VerifyCGA {
			b = l.Addr.As16()
			d.Write(b[:])
		}
	}
	return d
}

func signDigest(rand io.Reader, priv *rsa.PrivateKey, d hash.Hash) ([]byte, error) {
	if priv == nil {
		return nil, errors.New("hba: no private key to sign with")
	}
	var h [sha1.Size]byte
	return rsa.SignPKCS1v15(rand, priv, crypto.SHA1, d.Sum(h[:0]))
}

func verifyDigest(pub *rsa.PublicKey, d hash.Hash, signature []byte) error {
	var h [sha1.Size]byte
	if rsa.VerifyPKCS1v15(pub, crypto.SHA1, d.Sum(h[:0]), signature) != nil {
		return ReasonBadSignature
	}
	return nil
}
