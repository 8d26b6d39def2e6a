package wire

import (
	"encoding/binary"
	"net/netip"
)

// CGAExtensionType is the 16-bit type of a CGA extension field (RFC 4581,
// used by RFC 3972 §3 and RFC 5535 §5).
type CGAExtensionType uint16

// CGAExtMultiPrefix is the Multi-Prefix extension type (RFC 5535 §10).
const CGAExtMultiPrefix CGAExtensionType = 0x0012

// CGA Parameters layout (RFC 3972 §3).
const (
	cgaModifierLen   = 16
	cgaPrefixOff     = 16
	cgaCollisionOff  = 24
	cgaPublicKeyOff  = 25
	cgaExtHeaderLen  = 4
	multiPrefixFixed = 4 // P flag and 31 reserved bits, RFC 5535 §5
	// CGAMaxCollisionCount is the largest legal collision count (RFC 3972 §3).
	CGAMaxCollisionCount = 2
)

// CGAParameters is the CGA Parameters data structure (RFC 3972 §3) that the
// CGA Parameter Data Structure option carries (RFC 5533 §5.15.4), with the
// Multi-Prefix extension of HBA (RFC 5535 §5) decoded.
type CGAParameters struct {
	// Modifier is the 128-bit modifier.
	Modifier [16]byte
	// SubnetPrefix is the 64-bit subnet prefix, as a /64.
	SubnetPrefix netip.Prefix
	// CollisionCount is 0, 1 or 2.
	CollisionCount uint8
	// PublicKey is the DER-encoded SubjectPublicKeyInfo (for HBA-only sets,
	// the Extended Modifier encoded as one, RFC 5535 §6); its length is
	// that of the DER SEQUENCE.
	PublicKey []byte
	// Extensions are the extension fields in wire order; the order matters
	// to the CGA hashes (RFC 3972 §3).
	Extensions []CGAExtension
}

// CGAExtension is one extension field of a CGA Parameters structure (RFC
// 3972 §3, RFC 4581 format: 16-bit type, 16-bit data length, data).
type CGAExtension struct {
	// Type is the extension type.
	Type CGAExtensionType
	// Data is the undecoded extension data; nil when MultiPrefix is set.
	Data []byte
	// MultiPrefix is the decoded Multi-Prefix extension (RFC 5535 §5),
	// set exactly when Type is CGAExtMultiPrefix.
	MultiPrefix *MultiPrefix
}

// MultiPrefix is the Multi-Prefix extension (RFC 5535 §5).
type MultiPrefix struct {
	// PublicKeyIncluded is the P flag: the Public Key field holds a real
	// public key rather than an Extended Modifier.
	PublicKeyIncluded bool
	// Prefixes are the 64-bit prefixes of the HBA set, as /64s.
	Prefixes []netip.Prefix
}

// MultiPrefix returns the first Multi-Prefix extension, or nil (RFC 5535
// §7.2 step 1 looks the HBA prefix up in it).
func (p *CGAParameters) MultiPrefix() *MultiPrefix {
	for i := range p.Extensions {
		if p.Extensions[i].MultiPrefix != nil {
			return p.Extensions[i].MultiPrefix
		}
	}
	return nil
}

func cgaErr(field string, off int, sentinel error, reason string) *Error {
	return errorf(0, "CGA Parameters: "+field, off, sentinel, reason)
}

// derSequenceLen returns the total length (header included) of the DER
// SEQUENCE at the start of b (ITU-T X.690 §8.1, DER definite minimal
// lengths), which is how RFC 3972 §3 delimits the Public Key.
func derSequenceLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, cgaErr("Public Key", cgaPublicKeyOff, ErrTruncated, "no room for a DER header")
	}
	if b[0] != 0x30 {
		return 0, cgaErr("Public Key", cgaPublicKeyOff, ErrInvalidValue,
			"not a DER SEQUENCE (tag "+hex16(uint16(b[0]))+")")
	}
	l, hdr := int(b[1]), 2
	if l >= 0x80 {
		k := l & 0x7f
		if k == 0 || k > 3 {
			return 0, cgaErr("Public Key", cgaPublicKeyOff+1, ErrInvalidValue, "indefinite or oversized DER length")
		}
		if len(b) < 2+k {
			return 0, cgaErr("Public Key", cgaPublicKeyOff+1, ErrTruncated, "DER length octets cut off")
		}
		l = 0
		for _, c := range b[2 : 2+k] {
			l = l<<8 | int(c)
		}
		if b[2] == 0 || l < 0x80 {
			return 0, cgaErr("Public Key", cgaPublicKeyOff+1, ErrInvalidValue, "DER length not minimally encoded")
		}
		hdr += k
	}
	if hdr+l > len(b) {
		return 0, cgaErr("Public Key", cgaPublicKeyOff, ErrTruncated,
			"DER SEQUENCE of "+itoa(hdr+l)+" octets, "+itoa(len(b))+" present")
	}
	return hdr + l, nil
}

func prefix64(b []byte) netip.Prefix {
	var a [16]byte
	copy(a[:8], b[:8])
	return netip.PrefixFrom(netip.AddrFrom16(a), 64)
}

// put64 writes the top 64 bits of a /64 prefix, or reports false if p is not
// a masked IPv6 /64.
func put64(b []byte, p netip.Prefix) bool {
	if !p.IsValid() || !p.Addr().Is6() || p.Bits() != 64 || p.Masked() != p || p.Addr().Zone() != "" {
		return false
	}
	a := p.Addr().As16()
	copy(b[:8], a[:8])
	return true
}

// ParseCGAParameters parses a CGA Parameters data structure (RFC 3972 §3)
// that makes up all of b, decoding Multi-Prefix extensions (RFC 5535 §5) and
// keeping other extensions raw. Slices in the result alias b. It checks the
// layout and the collision count; CGA and HBA verification are the
// caller's (RFC 3972 §5, RFC 5535 §7).
func ParseCGAParameters(b []byte) (*CGAParameters, error) {
	if len(b) < cgaPublicKeyOff {
		return nil, cgaErr("fixed fields", len(b), ErrTruncated,
			"need "+itoa(cgaPublicKeyOff)+" octets before the public key, have "+itoa(len(b)))
	}
	p := &CGAParameters{
		Modifier:       [16]byte(b[:cgaModifierLen]),
		SubnetPrefix:   prefix64(b[cgaPrefixOff:]),
		CollisionCount: b[cgaCollisionOff],
	}
	if p.CollisionCount > CGAMaxCollisionCount {
		return nil, cgaErr("Collision Count", cgaCollisionOff, ErrInvalidValue,
			"is "+itoa(int(p.CollisionCount))+"; must be 0, 1 or 2")
	}
	kl, err := derSequenceLen(b[cgaPublicKeyOff:])
	if err != nil {
		return nil, err
	}
	p.PublicKey = b[cgaPublicKeyOff : cgaPublicKeyOff+kl]
	off := cgaPublicKeyOff + kl
	for off < len(b) {
		if len(b)-off < cgaExtHeaderLen {
			return nil, cgaErr("extension header", off, ErrTruncated, itoa(len(b)-off)+" octets left")
		}
		typ := CGAExtensionType(binary.BigEndian.Uint16(b[off:]))
		l := int(binary.BigEndian.Uint16(b[off+2:]))
		if l > len(b)-off-cgaExtHeaderLen {
			return nil, cgaErr("extension", off, ErrTruncated,
				"data length "+itoa(l)+", "+itoa(len(b)-off-cgaExtHeaderLen)+" octets left")
		}
		data := b[off+cgaExtHeaderLen : off+cgaExtHeaderLen+l]
		ext := CGAExtension{Type: typ, Data: data}
		if typ == CGAExtMultiPrefix {
			if l < multiPrefixFixed || (l-multiPrefixFixed)%8 != 0 {
				return nil, cgaErr("Multi-Prefix extension", off, ErrBadLength,
					"Ext Len "+itoa(l)+" is not 4 plus a multiple of 8")
			}
			mp := &MultiPrefix{PublicKeyIncluded: data[0]&0x80 != 0}
			if k := (l - multiPrefixFixed) / 8; k > 0 {
				mp.Prefixes = make([]netip.Prefix, k)
				for i := range mp.Prefixes {
					mp.Prefixes[i] = prefix64(data[multiPrefixFixed+8*i:])
				}
			}
			ext.Data, ext.MultiPrefix = nil, mp
		}
		p.Extensions = append(p.Extensions, ext)
		off += cgaExtHeaderLen + l
	}
	return p, nil
}

func (e *CGAExtension) dataLen() int {
	if e.MultiPrefix != nil {
		return multiPrefixFixed + 8*len(e.MultiPrefix.Prefixes)
	}
	return len(e.Data)
}

// Len returns the encoded length of the structure (RFC 3972 §3).
func (p *CGAParameters) Len() int {
	n := cgaPublicKeyOff + len(p.PublicKey)
	for i := range p.Extensions {
		n += cgaExtHeaderLen + p.Extensions[i].dataLen()
	}
	return n
}

// MarshalTo writes the structure into b[:Len()] (RFC 3972 §3, RFC 5535 §5)
// after the checks ParseCGAParameters makes, so what it writes parses back to
// an equal value. It does not allocate.
func (p *CGAParameters) MarshalTo(b []byte) (int, error) {
	n := p.Len()
	if len(b) < n {
		return 0, cgaErr("structure", 0, ErrShortBuffer, "need "+itoa(n)+" octets, have "+itoa(len(b)))
	}
	if p.CollisionCount > CGAMaxCollisionCount {
		return 0, cgaErr("Collision Count", cgaCollisionOff, ErrInvalidValue, "must be 0, 1 or 2")
	}
	if kl, err := derSequenceLen(p.PublicKey); err != nil {
		return 0, err
	} else if kl != len(p.PublicKey) {
		return 0, cgaErr("Public Key", cgaPublicKeyOff, ErrBadLength, "trailing octets after the DER SEQUENCE")
	}
	copy(b, p.Modifier[:])
	if !put64(b[cgaPrefixOff:], p.SubnetPrefix) {
		return 0, cgaErr("Subnet Prefix", cgaPrefixOff, ErrInvalidValue, "must be a masked IPv6 /64")
	}
	b[cgaCollisionOff] = p.CollisionCount
	off := cgaPublicKeyOff + copy(b[cgaPublicKeyOff:], p.PublicKey)
	for i := range p.Extensions {
		e := &p.Extensions[i]
		l := e.dataLen()
		if l > 0xffff {
			return 0, cgaErr("extension", off, ErrBadLength, "data longer than 65535 octets")
		}
		if (e.MultiPrefix != nil) != (e.Type == CGAExtMultiPrefix) {
			return 0, cgaErr("extension", off, ErrInvalidValue, "MultiPrefix must be set exactly for type 0x0012")
		}
		binary.BigEndian.PutUint16(b[off:], uint16(e.Type))
		binary.BigEndian.PutUint16(b[off+2:], uint16(l))
		d := b[off+cgaExtHeaderLen : off+cgaExtHeaderLen+l]
		if mp := e.MultiPrefix; mp != nil {
			binary.BigEndian.PutUint32(d, 0)
			if mp.PublicKeyIncluded {
				d[0] = 0x80
			}
			for j, pr := range mp.Prefixes {
				if !put64(d[multiPrefixFixed+8*j:], pr) {
					return 0, cgaErr("Multi-Prefix extension", off, ErrInvalidValue,
						"prefix "+itoa(j+1)+" must be a masked IPv6 /64")
				}
			}
		} else {
			copy(d, e.Data)
		}
		off += cgaExtHeaderLen + l
	}
	return n, nil
}

// AppendCGAParameters appends the encoded structure (RFC 3972 §3, RFC 5535
// §5) to dst, for building the CGA Parameter Data Structure option.
func AppendCGAParameters(dst []byte, p *CGAParameters) ([]byte, error) {
	start := len(dst)
	dst = grow(dst, p.Len())
	n, err := p.MarshalTo(dst[start:])
	if err != nil {
		return dst[:start], err
	}
	return dst[:start+n], nil
}
