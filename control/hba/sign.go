package hba

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"errors"
	"hash"
	"io"
	"net/netip"

	"shim6d/control/wire"
)

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

// SignLocators makes the CGA Signature option's contents for list (RFC 5533
// §5.15.5): a CGA signature (RFC 3972 §6) over wire.AppendCGASigned of
// list, the Shim6 tag, the Locator List Generation and the locators whose
// method is CGA. priv is the key of the CGA Parameters sent with the list.
func SignLocators(rand io.Reader, priv *rsa.PrivateKey, list *wire.LocatorList) ([]byte, error) {
	if list == nil {
		return nil, errors.New("hba: no Locator List to sign")
	}
	return signDigest(rand, priv, locatorDigest(list))
}

// locatorDigest hashes what a CGA Signature of list covers (RFC 5533
// §5.15.5). Signer and verifier rebuild the octets from the list itself, so
// a signature for other locators or another Generation fails.
func locatorDigest(list *wire.LocatorList) hash.Hash {
	d := sha1.New()
	d.Write(wire.AppendCGASigned(nil, list))
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
