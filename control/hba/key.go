package hba

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Key is an RSA key for CGAs and CGA-compatible HBA sets (RFC 3972 §3, RFC
// 5535 §4).
type Key struct {
	// Public is the DER SubjectPublicKeyInfo that goes in the Public Key
	// field of the CGA Parameters (RFC 3972 §3).
	Public []byte
	// Private signs for the key (RFC 3972 §6); nil when only the public
	// half was loaded.
	Private *rsa.PrivateKey
}

// MarshalPublicKey encodes pub as the DER SubjectPublicKeyInfo with
// algorithm rsaEncryption and an RSAPublicKey (RFC 3972 §3, RFC 3279
// §2.3.1). The key must have at least MinRSABits.
func MarshalPublicKey(pub *rsa.PublicKey) ([]byte, error) {
	if pub == nil || pub.N == nil || pub.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("hba: RSA key must have at least %d bits", MinRSABits)
	}
	return x509.MarshalPKIXPublicKey(pub)
}

// ParseKeyPEM reads the first key of a PEM file: an RSA private key (PKCS #1
// "RSA PRIVATE KEY" or PKCS #8 "PRIVATE KEY"), or an RSA public key ("PUBLIC
// KEY" or "RSA PUBLIC KEY") when only addresses are to be generated. Keys
// under MinRSABits are refused.
func ParseKeyPEM(data []byte) (*Key, error) {
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			return nil, errors.New("hba: no RSA key in the PEM data")
		}
		var (
			priv *rsa.PrivateKey
			pub  *rsa.PublicKey
			err  error
		)
		switch blk.Type {
		case "RSA PRIVATE KEY":
			priv, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			var k any
			if k, err = x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
				var ok bool
				if priv, ok = k.(*rsa.PrivateKey); !ok {
					err = fmt.Errorf("a %T, not RSA (RFC 3972 §3 uses RSA)", k)
				}
			}
		case "PUBLIC KEY":
			var k any
			if k, err = x509.ParsePKIXPublicKey(blk.Bytes); err == nil {
				var ok bool
				if pub, ok = k.(*rsa.PublicKey); !ok {
					err = fmt.Errorf("a %T, not RSA (RFC 3972 §3 uses RSA)", k)
				}
			}
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(blk.Bytes)
		default:
			continue // certificates, parameters: look further
		}
		if err != nil {
			return nil, fmt.Errorf("hba: %s: %w", blk.Type, err)
		}
		if priv != nil {
			pub = &priv.PublicKey
		}
		der, err := MarshalPublicKey(pub)
		if err != nil {
			return nil, err
		}
		return &Key{Public: der, Private: priv}, nil
	}
}

// checkPublicKey makes sure der is an RSA SubjectPublicKeyInfo a verifier
// will accept, so that no one generates addresses for a key that cannot
// sign.
func checkPublicKey(der []byte) error {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return fmt.Errorf("hba: public key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok || rk.N.BitLen() < MinRSABits {
		return fmt.Errorf("hba: public key must be RSA with at least %d bits (RFC 3972 §3)", MinRSABits)
	}
	return nil
}
