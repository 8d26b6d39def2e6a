package ha

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Kind is what a record says.
type Kind uint8

// Record kinds. Heartbeats are frames of their own (FrameHeartbeat), not
// records: they say nothing about a context.
const (
	// KindContext creates a context in its slot, or replaces what the
	// slot holds with it: creation and every change travel alike, so a
	// record never depends on the standby having seen the one before.
	KindContext Kind = 1 + iota
	// KindDelete removes the context in a slot, if it still has the tag.
	KindDelete
	// KindSnapshotBegin starts a full snapshot: what follows up to
	// KindSnapshotEnd is the whole table, and the standby drops the
	// contexts the snapshot did not name.
	KindSnapshotBegin
	// KindSnapshotEnd ends a snapshot.
	KindSnapshotEnd
	numKinds
)

var kindNames = [numKinds]string{"", "context", "delete", "snapshot-begin", "snapshot-end"}

// String names the kind.
func (k Kind) String() string {
	if k > 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// MaxTag is the largest context tag: RFC 5533 §5 gives tags 47 bits.
const MaxTag = 1<<47 - 1

// Locator is one of the peer's locators with its verification method
// (RFC 5533 §5.15.2).
type Locator struct {
	Addr   [16]byte
	Method uint8
}

// Preference is one Locator Preferences element (RFC 5533 §5.15.3):
// flags, priority and weight.
type Preference struct {
	Flags, Priority, Weight uint8
}

// Signalling is what the Shim6 machine (control/shim6) holds of an
// established context beyond the table's record: what the standby needs
// so that, once active, it can go on with Updates, Keepalives and Probes
// (RFC 5533 §6.1, RFC 5534 §5.3) without a handshake.
type Signalling struct {
	// State is the context's RFC 5533 §6.2 state as control/shim6 numbers
	// it; 0 means the table holds the context alone (a static or
	// synthetic context, no signalling).
	State uint8
	// PeerKeepalive is the peer's Keepalive Timeout option in seconds
	// (RFC 5534 §5.3), 0 if it sent none.
	PeerKeepalive uint16
	// PeerGeneration is the peer's Locator List Generation.
	PeerGeneration uint32
	// PeerLocators is Ls(peer) as last verified; empty: the peer's ULID
	// alone.
	PeerLocators []Locator
	// PeerPreferences has one element per peer locator, or none.
	PeerPreferences []Preference
	// PeerParameters is the peer's CGA Parameter Data Structure (RFC 5533
	// §5.15.4), kept to check its later Update Requests.
	PeerParameters []byte
}

// Record is one replicated fact. Decode reuses its slices.
type Record struct {
	Kind Kind
	// Slot, LocalTag and the rest are the fast path's record
	// (dataplane.Context) for KindContext; KindDelete has Slot and
	// LocalTag only.
	Slot       uint32
	LocalTag   uint64
	PeerTag    uint64
	EgressPort uint16
	ULIDLocal  [16]byte
	ULIDPeer   [16]byte
	LocLocal   [16]byte
	LocPeer    [16]byte
	Sig        Signalling
	// Capacity, for KindSnapshotBegin, is the active's table capacity:
	// a tag names its slot in the low bits, so the standby's table must
	// be as large for the tags to name the same slots.
	Capacity uint32
	// Count, for KindSnapshotEnd, is how many contexts the snapshot held.
	Count uint32
}

// Encoding, big-endian, one record after another in a batch:
//
//	context   kind(1) flags(1) slot(4) local tag(6) peer tag(6) egress(2)
//	          ULID local(16) ULID peer(16)
//	          [locator local(16) locator peer(16)]        unless flagLocULIDs
//	          [state(1) keepalive(2) generation(4)         if flagSig
//	           n(1) n × (address(16) method(1))
//	           m(1) m × (flags(1) priority(1) weight(1))
//	           p(2) p × parameter octet]
//	delete    kind(1) slot(4) local tag(6)
//	begin     kind(1) capacity(4)
//	end       kind(1) count(4)
//
// Most contexts rewrite nothing (locators = ULIDs) until REAP moves them,
// and flagLocULIDs saves their 32 octets; a context of the table alone
// has no flagSig part. A synthetic context is 84 octets.
const (
	flagLocULIDs = 1 << iota
	flagSig
	knownFlags = flagLocULIDs | flagSig
)

const (
	contextBase = 1 + 1 + 4 + 6 + 6 + 2 + 32
	deleteSize  = 1 + 4 + 6
	markerSize  = 1 + 4
	sigBase     = 1 + 2 + 4 + 1 + 1 + 2
	// maxList bounds Ls(peer) and its preferences: the count is one
	// octet, and the machine never verifies longer lists.
	maxList = 255
	// maxParams bounds the CGA parameters: the length is two octets.
	maxParams = 1<<16 - 1
)

// Errors of Decode and Append.
var (
	ErrTruncated   = errors.New("ha: record truncated")
	ErrUnknownKind = errors.New("ha: unknown record kind")
	ErrBadRecord   = errors.New("ha: malformed record")
)

// Size is the record's encoded size in octets.
func (r *Record) Size() int {
	switch r.Kind {
	case KindContext:
		n := contextBase
		if r.LocLocal != r.ULIDLocal || r.LocPeer != r.ULIDPeer {
			n += 32
		}
		if r.Sig.State != 0 {
			n += sigBase + 17*len(r.Sig.PeerLocators) + 3*len(r.Sig.PeerPreferences) + len(r.Sig.PeerParameters)
		}
		return n
	case KindDelete:
		return deleteSize
	case KindSnapshotBegin, KindSnapshotEnd:
		return markerSize
	}
	return 0
}

// Check reports whether the record can be encoded: a known kind, tags in
// 47 bits, lists that fit their counts.
func (r *Record) Check() error {
	if r.Kind == 0 || r.Kind >= numKinds {
		return ErrUnknownKind
	}
	if r.LocalTag > MaxTag || r.PeerTag > MaxTag {
		return fmt.Errorf("%w: tag over 47 bits", ErrBadRecord)
	}
	s := &r.Sig
	if len(s.PeerLocators) > maxList || len(s.PeerPreferences) > maxList || len(s.PeerParameters) > maxParams {
		return fmt.Errorf("%w: peer locator set too large", ErrBadRecord)
	}
	return nil
}

func put48(b []byte, v uint64) {
	binary.BigEndian.PutUint16(b, uint16(v>>32))
	binary.BigEndian.PutUint32(b[2:], uint32(v))
}

func get48(b []byte) uint64 {
	return uint64(binary.BigEndian.Uint16(b))<<32 | uint64(binary.BigEndian.Uint32(b[2:]))
}

// Append encodes r onto b. It checks r first (Check) and returns b
// unchanged with the error if it cannot be encoded.
func Append(b []byte, r *Record) ([]byte, error) {
	if err := r.Check(); err != nil {
		return b, err
	}
	off := len(b)
	b = grow(b, r.Size())
	w := b[off:]
	w[0] = byte(r.Kind)
	switch r.Kind {
	case KindContext:
		var flags byte
		rewrites := r.LocLocal != r.ULIDLocal || r.LocPeer != r.ULIDPeer
		if !rewrites {
			flags |= flagLocULIDs
		}
		if r.Sig.State != 0 {
			flags |= flagSig
		}
		w[1] = flags
		binary.BigEndian.PutUint32(w[2:], r.Slot)
		put48(w[6:], r.LocalTag)
		put48(w[12:], r.PeerTag)
		binary.BigEndian.PutUint16(w[18:], r.EgressPort)
		copy(w[20:], r.ULIDLocal[:])
		copy(w[36:], r.ULIDPeer[:])
		p := contextBase
		if rewrites {
			copy(w[p:], r.LocLocal[:])
			copy(w[p+16:], r.LocPeer[:])
			p += 32
		}
		if flags&flagSig != 0 {
			s := &r.Sig
			w[p] = s.State
			binary.BigEndian.PutUint16(w[p+1:], s.PeerKeepalive)
			binary.BigEndian.PutUint32(w[p+3:], s.PeerGeneration)
			w[p+7] = byte(len(s.PeerLocators))
			p += 8
			for _, l := range s.PeerLocators {
				copy(w[p:], l.Addr[:])
				w[p+16] = l.Method
				p += 17
			}
			w[p] = byte(len(s.PeerPreferences))
			p++
			for _, e := range s.PeerPreferences {
				w[p], w[p+1], w[p+2] = e.Flags, e.Priority, e.Weight
				p += 3
			}
			binary.BigEndian.PutUint16(w[p:], uint16(len(s.PeerParameters)))
			copy(w[p+2:], s.PeerParameters)
		}
	case KindDelete:
		binary.BigEndian.PutUint32(w[1:], r.Slot)
		put48(w[5:], r.LocalTag)
	case KindSnapshotBegin:
		binary.BigEndian.PutUint32(w[1:], r.Capacity)
	case KindSnapshotEnd:
		binary.BigEndian.PutUint32(w[1:], r.Count)
	}
	return b, nil
}

// grow extends b by n octets, reallocating only when its capacity is
// short (the Feed's chunks never are).
func grow(b []byte, n int) []byte {
	if len(b)+n <= cap(b) {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*cap(b)+n)
	copy(nb, b)
	return nb
}

// Decode reads the record at the start of b into r, reusing r's slices,
// and returns its size. Every field is checked against what Append can
// write, so a record that decodes is one the control core can apply
// without further doubt about its shape (its meaning, a slot in range,
// is the core's to check).
func Decode(b []byte, r *Record) (int, error) {
	if len(b) < 1 {
		return 0, ErrTruncated
	}
	k := Kind(b[0])
	sig := r.Sig
	*r = Record{Kind: k}
	switch k {
	case KindContext:
		if len(b) < contextBase {
			return 0, ErrTruncated
		}
		flags := b[1]
		if flags&^knownFlags != 0 {
			return 0, fmt.Errorf("%w: flags %#x", ErrBadRecord, flags)
		}
		r.Slot = binary.BigEndian.Uint32(b[2:])
		r.LocalTag, r.PeerTag = get48(b[6:]), get48(b[12:])
		if r.LocalTag > MaxTag || r.PeerTag > MaxTag {
			return 0, fmt.Errorf("%w: tag over 47 bits", ErrBadRecord)
		}
		r.EgressPort = binary.BigEndian.Uint16(b[18:])
		copy(r.ULIDLocal[:], b[20:])
		copy(r.ULIDPeer[:], b[36:])
		p := contextBase
		if flags&flagLocULIDs != 0 {
			r.LocLocal, r.LocPeer = r.ULIDLocal, r.ULIDPeer
		} else {
			if len(b) < p+32 {
				return 0, ErrTruncated
			}
			copy(r.LocLocal[:], b[p:])
			copy(r.LocPeer[:], b[p+16:])
			p += 32
			if r.LocLocal == r.ULIDLocal && r.LocPeer == r.ULIDPeer {
				// Append would have set flagLocULIDs: one encoding per record.
				return 0, fmt.Errorf("%w: locators spelled out equal to the ULIDs", ErrBadRecord)
			}
		}
		r.Sig = Signalling{PeerLocators: sig.PeerLocators[:0], PeerPreferences: sig.PeerPreferences[:0], PeerParameters: sig.PeerParameters[:0]}
		if flags&flagSig == 0 {
			return p, nil
		}
		if len(b) < p+8 {
			return 0, ErrTruncated
		}
		s := &r.Sig
		s.State = b[p]
		if s.State == 0 {
			return 0, fmt.Errorf("%w: signalling part with state 0", ErrBadRecord)
		}
		s.PeerKeepalive = binary.BigEndian.Uint16(b[p+1:])
		s.PeerGeneration = binary.BigEndian.Uint32(b[p+3:])
		n := int(b[p+7])
		p += 8
		if len(b) < p+17*n+1 {
			return 0, ErrTruncated
		}
		for range n {
			var l Locator
			copy(l.Addr[:], b[p:])
			l.Method = b[p+16]
			s.PeerLocators = append(s.PeerLocators, l)
			p += 17
		}
		m := int(b[p])
		p++
		if len(b) < p+3*m+2 {
			return 0, ErrTruncated
		}
		for range m {
			s.PeerPreferences = append(s.PeerPreferences, Preference{b[p], b[p+1], b[p+2]})
			p += 3
		}
		pl := int(binary.BigEndian.Uint16(b[p:]))
		p += 2
		if len(b) < p+pl {
			return 0, ErrTruncated
		}
		s.PeerParameters = append(s.PeerParameters, b[p:p+pl]...)
		return p + pl, nil
	case KindDelete:
		if len(b) < deleteSize {
			return 0, ErrTruncated
		}
		r.Slot = binary.BigEndian.Uint32(b[1:])
		r.LocalTag = get48(b[5:])
		if r.LocalTag > MaxTag {
			return 0, fmt.Errorf("%w: tag over 47 bits", ErrBadRecord)
		}
		return deleteSize, nil
	case KindSnapshotBegin, KindSnapshotEnd:
		if len(b) < markerSize {
			return 0, ErrTruncated
		}
		v := binary.BigEndian.Uint32(b[1:])
		if k == KindSnapshotBegin {
			r.Capacity = v
		} else {
			r.Count = v
		}
		return markerSize, nil
	}
	return 0, fmt.Errorf("%w: %d", ErrUnknownKind, b[0])
}

// Walk decodes the n records of a batch body in turn into r and calls f
// with each; it stops at the first error, or when f returns false. A
// body must hold exactly n records: a short or long one is malformed.
func Walk(body []byte, n uint32, r *Record, f func(*Record) bool) error {
	for i := uint32(0); i < n; i++ {
		sz, err := Decode(body, r)
		if err != nil {
			return fmt.Errorf("record %d of %d: %w", i+1, n, err)
		}
		body = body[sz:]
		if f != nil && !f(r) {
			return nil
		}
	}
	if len(body) != 0 {
		return fmt.Errorf("%w: %d octets after the last record", ErrBadRecord, len(body))
	}
	return nil
}
