package shim6

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"net/netip"
	"time"
)

// Responder Validators (RFC 5533 §5.15.1) let the responder stay stateless
// until I2 or I2bis, the way SYN cookies do: the validator is a MAC, under
// a secret only we know, over what the I1 (§7.10.1) or the packet that
// found no context (§7.17.1) said, and the I2/I2bis must bring it back
// with the same inputs.
//
// HMAC-SHA-256, truncated to 128 bits (RFC 2104 §5 allows truncation to
// half the output and no less than 80 bits), keyed with a secret that
// rotates every SecretLifetime. The current and the previous secret are
// kept; a Responder Nonce names the secret it was made with by the low 8
// bits of the rotation count in its top octet, the other 24 bits random.
// So a validator lives between one and two lifetimes (RFC 5533 §7.13:
// VALIDATOR_MIN_LIFETIME is 30 s), and one made two rotations ago is
// refused whatever it says.
//
// What the MAC covers:
//
//	R1 (§7.10.1, §7.13): the Responder Nonce, the Initiator Context Tag,
//	  the Initiator Nonce, the Forked Instance Identifier, the ULID pair
//	  and the locator pair. §7.10.1 lists the tag, §7.13 the nonce; we bind
//	  both, so an initiator must echo its I1 values in I2 (our own
//	  initiator does, §7.11 allows it).
//	R1bis (§7.17.1, §7.20): the Responder Nonce, the Packet Context Tag
//	  and the locator pair of the packet that found no context.
//
// A domain octet keeps an R1 validator from passing as an R1bis one.

const (
	validatorLen = 16

	domainR1    = 1
	domainR1bis = 2
)

type validators struct {
	mac     [2]hash.Hash // keyed with the secret of rotation count i, at i&1
	epoch   uint32       // rotations so far
	rotated time.Time
	in      [128]byte
	sum     [sha256.Size]byte
}

// rotate makes a new current secret; the current one becomes the previous
// one and the previous one is gone.
func (v *validators) rotate(r *rng, now time.Time) {
	v.epoch++
	var secret [32]byte
	r.read(secret[:])
	v.mac[v.epoch&1] = hmac.New(sha256.New, secret[:])
	v.rotated = now
}

// maybeRotate rotates when the current secret is older than lifetime;
// after a long pause it rotates twice, so no secret outlives two lifetimes.
func (v *validators) maybeRotate(r *rng, now time.Time, lifetime time.Duration) {
	if now.Sub(v.rotated) < lifetime {
		return
	}
	if now.Sub(v.rotated) >= 2*lifetime {
		v.rotate(r, now)
	}
	v.rotate(r, now)
}

// nonce makes a Responder Nonce under the current secret.
func (v *validators) nonce(r *rng) uint32 {
	return v.epoch<<24 | r.uint32()&0xffffff
}

// macFor returns the MAC of the secret a Responder Nonce names, or nil for
// a nonce of a secret no longer kept.
func (v *validators) macFor(nonce uint32) hash.Hash {
	switch byte(nonce >> 24) {
	case byte(v.epoch):
		return v.mac[v.epoch&1]
	case byte(v.epoch - 1):
		return v.mac[(v.epoch-1)&1]
	}
	return nil
}

func (v *validators) compute(mac hash.Hash, n int) []byte {
	mac.Reset()
	mac.Write(v.in[:n])
	return mac.Sum(v.sum[:0])[:validatorLen]
}

func putAddr(b []byte, a netip.Addr) int {
	a16 := a.As16()
	return copy(b, a16[:])
}

// r1Input lays out the R1 validator's input (§7.10.1) and returns its
// length. local and peer are the ULIDs from the responder's side; src and
// dst the locators of the I1 (or I2).
func (v *validators) r1Input(nonce uint32, tag uint64, initNonce, fii uint32, local, peer, src, dst netip.Addr) int {
	b := v.in[:]
	b[0] = domainR1
	binary.BigEndian.PutUint32(b[1:], nonce)
	binary.BigEndian.PutUint64(b[5:], tag)
	binary.BigEndian.PutUint32(b[13:], initNonce)
	binary.BigEndian.PutUint32(b[17:], fii)
	n := 21
	n += putAddr(b[n:], local)
	n += putAddr(b[n:], peer)
	n += putAddr(b[n:], src)
	n += putAddr(b[n:], dst)
	return n
}

// r1 returns the validator for an R1; the slice is valid until the next
// call.
func (v *validators) r1(nonce uint32, tag uint64, initNonce, fii uint32, local, peer, src, dst netip.Addr) []byte {
	n := v.r1Input(nonce, tag, initNonce, fii, local, peer, src, dst)
	return v.compute(v.mac[v.epoch&1], n)
}

// checkR1 reports whether an I2's validator is one we made for these
// values under a secret still kept (RFC 5533 §7.13).
func (v *validators) checkR1(got []byte, nonce uint32, tag uint64, initNonce, fii uint32, local, peer, src, dst netip.Addr) bool {
	mac := v.macFor(nonce)
	if mac == nil || len(got) != validatorLen {
		return false
	}
	n := v.r1Input(nonce, tag, initNonce, fii, local, peer, src, dst)
	return hmac.Equal(got, v.compute(mac, n))
}

func (v *validators) r1bisInput(nonce uint32, tag uint64, src, dst netip.Addr) int {
	b := v.in[:]
	b[0] = domainR1bis
	binary.BigEndian.PutUint32(b[1:], nonce)
	binary.BigEndian.PutUint64(b[5:], tag)
	n := 13
	n += putAddr(b[n:], src)
	n += putAddr(b[n:], dst)
	return n
}

// r1bis returns the validator for an R1bis answering a packet with tag
// from src to dst (§7.17.1); valid until the next call.
func (v *validators) r1bis(nonce uint32, tag uint64, src, dst netip.Addr) []byte {
	return v.compute(v.mac[v.epoch&1], v.r1bisInput(nonce, tag, src, dst))
}

// checkR1bis reports whether an I2bis from src to dst carries a validator
// we made for its Packet Context Tag (RFC 5533 §7.20).
func (v *validators) checkR1bis(got []byte, nonce uint32, tag uint64, src, dst netip.Addr) bool {
	mac := v.macFor(nonce)
	if mac == nil || len(got) != validatorLen {
		return false
	}
	return hmac.Equal(got, v.compute(mac, v.r1bisInput(nonce, tag, src, dst)))
}
