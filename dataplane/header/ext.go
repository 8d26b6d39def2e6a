package header

import "encoding/binary"

// MaxExtensionHeaders bounds how many extension headers WalkExtensions
// follows before it gives up with ChainTooLong. RFC 8200 §4.1 lets each
// header appear once (destination options twice), so a well-formed packet
// carries at most about seven; 16 leaves room for stacked routing headers
// while capping the per-packet work an attacker can ask for (a 64 KiB
// payload could otherwise hold 8191 empty 8-octet headers).
const MaxExtensionHeaders = 16

// Byte layout shared by hop-by-hop, routing and destination options headers
// (RFC 8200 §4.3–4.6), the fragment header (§4.5) and AH (RFC 4302 §2).
const (
	extNextHeader = 0
	extLength     = 1
	// extUnit is the unit of the Hdr Ext Len field of the generic extension
	// headers; the length excludes the first unit.
	extUnit = 8
	// ahUnit is the unit of AH's Payload Len field, which excludes the first
	// two units (RFC 4302 §2.2).
	ahUnit = 4
	// fragmentHeaderSize is the fixed length of the fragment header.
	fragmentHeaderSize = 8
	// fragmentOffsetField is where the 13-bit Fragment Offset, Res and M
	// flag live in the fragment header.
	fragmentOffsetField = 2
)

// walkedOver marks the protocol numbers WalkExtensions does not simply
// stop at: the extension headers it follows and Shim6, whose length it
// checks.
var walkedOver = [256]bool{
	ProtoHopByHop: true,
	ProtoRouting:  true,
	ProtoFragment: true,
	ProtoAH:       true,
	ProtoDestOpts: true,
	ProtoShim6:    true,
}

// EndsFixedHeader reports whether a packet whose fixed IPv6 header names
// nh as its next header carries no extension header WalkExtensions would
// follow, nor a Shim6 header: then the chain is settled, and a Shim6
// payload header goes right after the fixed header (InsertShim6Payload's
// insertion point is IPv6MinimumSize, its Next Header field the fixed
// header's). The common case, which fast paths handle without a walk.
func EndsFixedHeader(nh uint8) bool { return !walkedOver[nh] }

// ChainError says why WalkExtensions could not walk an extension-header
// chain. It is a reason code for drop counters, not an error value, so the
// fast path can compare and count it without allocating. The zero value,
// ChainOK, means the walk succeeded.
type ChainError uint8

const (
	// ChainOK means the walk reached an upper-layer header, ESP, No Next
	// Header, Shim6, or a non-first fragment's data.
	ChainOK ChainError = iota
	// ChainTruncated means an extension header (or the Shim6 header the walk
	// stopped at) runs past the end of the IPv6 payload, or the buffer is
	// shorter than the fixed header plus the payload length it declares.
	ChainTruncated
	// ChainTooLong means more than MaxExtensionHeaders extension headers.
	ChainTooLong
	// ChainHopByHopNotFirst means a hop-by-hop options header appears other
	// than immediately after the fixed header (RFC 8200 §4.1).
	ChainHopByHopNotFirst

	// NumChainErrors is the number of ChainError values, for sizing
	// per-reason counter arrays.
	NumChainErrors
)

var chainErrorNames = [NumChainErrors]string{
	ChainOK:               "ok",
	ChainTruncated:        "extension header truncated",
	ChainTooLong:          "too many extension headers",
	ChainHopByHopNotFirst: "hop-by-hop options header not first",
}

// String returns a short description of the reason, for logs and metric
// help text.
func (e ChainError) String() string {
	if e < NumChainErrors {
		return chainErrorNames[e]
	}
	return "unknown chain error"
}

// Chain is what WalkExtensions learned about an IPv6 packet's
// extension-header chain (RFC 8200 §4). All offsets count from the first
// byte of the IPv6 fixed header and lie within the packet as its payload
// length declares it.
type Chain struct {
	// NextHeader is the protocol number the walk stopped at: an upper-layer
	// protocol, ProtoESP, ProtoNoNext or ProtoShim6. For a non-first
	// fragment it is the fragment header's Next Header value, and the bytes
	// at Offset are fragment data, not that header.
	NextHeader uint8
	// Extensions is the number of extension headers walked over before
	// stopping (the stopping header not included).
	Extensions uint8
	// Fragmented reports that a fragment header (RFC 8200 §4.5) was seen.
	Fragmented bool
	// NonFirstFragment reports that the fragment header had a non-zero
	// fragment offset; the walk stops right after such a header because
	// what follows is the middle of the original payload.
	NonFirstFragment bool
	// Offset is where the header named by NextHeader begins.
	Offset int
	// NextHeaderField is the offset of the byte holding NextHeader: the
	// fixed header's Next Header field (6) or the first byte of the last
	// extension header walked. Rewriting that byte rechains the packet.
	NextHeaderField int
	// InsertOffset is where a Shim6 payload extension header belongs per
	// RFC 5533 §4.6: after the hop-by-hop options header, routing headers
	// and a destination options header that precedes a routing header;
	// before the fragment header, other destination options, AH, ESP and
	// the upper-layer header. Equal to IPv6MinimumSize when no header
	// precedes the shim.
	InsertOffset int
	// InsertNextHeaderField is the offset of the Next Header field whose
	// value names the header at InsertOffset; it must become ProtoShim6
	// when the shim header is inserted there.
	InsertNextHeaderField int
}

// Shim6 returns the offset of the Shim6 header (RFC 5533 §5.1) the walk
// stopped at, and whether it stopped at one. A non-first fragment whose
// fragment header names Shim6 does not count: its bytes are fragment data.
func (c Chain) Shim6() (off int, ok bool) {
	if c.NextHeader == ProtoShim6 && !c.NonFirstFragment {
		return c.Offset, true
	}
	return 0, false
}

// WalkExtensions walks the extension-header chain of the IPv6 packet ip
// (RFC 8200 §4) as far as the payload length allows. It follows hop-by-hop
// options (only as the first header), routing, destination options,
// fragment and AH headers, and stops at the first other protocol, which
// includes ESP (its contents are opaque), No Next Header and Shim6 (the
// caller reads the Shim6 header with the Shim6 view; the walk only checks
// that its Hdr Ext Len fits). Mobility and HIP headers are treated as upper
// layers, since their Next Header is always No Next Header.
//
// Precondition: none for safety; any input returns without panicking. The
// result is meaningful when ip.Check() == IPv6OK; bytes past the payload
// length (Ethernet padding) are ignored. On failure the Chain holds what
// was learned up to the bad header.
func WalkExtensions(ip IPv6) (Chain, ChainError) {
	nh, count, flags, off, field, insertOff, insertField, e := walk(ip)
	return Chain{
		NextHeader:            nh,
		Extensions:            count,
		Fragmented:            flags&walkFragmented != 0,
		NonFirstFragment:      flags&walkNonFirstFragment != 0,
		Offset:                off,
		NextHeaderField:       field,
		InsertOffset:          insertOff,
		InsertNextHeaderField: insertField,
	}, e
}

// walkFlags packs Chain's two booleans, to keep walk's results in
// registers.
type walkFlags uint8

const (
	walkFragmented walkFlags = 1 << iota
	walkNonFirstFragment
)

// walk does the work of WalkExtensions, returning the Chain's fields as
// separate results. Chain has too many fields for the compiler to keep in
// registers: built in memory and then copied (as a caller that needs only
// a few fields would make it), it costs a store-forwarding stall per
// packet, more than a short walk itself. Scalars go straight from register
// to register, and InsertShim6Payload and StripShim6Payload use them
// without ever building a Chain. On failure nh, off and field are zero.
func walk(ip IPv6) (nh, count uint8, flags walkFlags, off, field, insertOff, insertField int, e ChainError) {
	if len(ip) < IPv6MinimumSize {
		return 0, 0, 0, 0, 0, 0, 0, ChainTruncated
	}
	end := IPv6MinimumSize + int(binary.BigEndian.Uint16(ip[IPv6PayloadLengthOffset:]))
	if end > len(ip) {
		return 0, 0, 0, 0, 0, 0, 0, ChainTruncated
	}
	ip = ip[:end]

	nh = ip[IPv6NextHeaderOffset]
	field, off = IPv6NextHeaderOffset, IPv6MinimumSize
	insertOff, insertField = off, field
	if !walkedOver[nh] {
		// Most packets carry no extension header: settle them with one
		// table load instead of the switch below.
		return nh, 0, 0, off, field, insertOff, insertField, ChainOK
	}
	// placed turns true at the first header the shim must precede; from
	// then on the insertion point no longer moves.
	placed := false
	for {
		var n int
		switch nh {
		case ProtoHopByHop:
			if off != IPv6MinimumSize {
				return 0, count, flags, 0, 0, insertOff, insertField, ChainHopByHopNotFirst
			}
			fallthrough
		case ProtoRouting, ProtoDestOpts:
			if off+extUnit > end {
				return 0, count, flags, 0, 0, insertOff, insertField, ChainTruncated
			}
			n = (int(ip[off+extLength]) + 1) * extUnit
		case ProtoFragment:
			n = fragmentHeaderSize
		case ProtoAH:
			if off+extUnit > end {
				return 0, count, flags, 0, 0, insertOff, insertField, ChainTruncated
			}
			n = (int(ip[off+extLength]) + 2) * ahUnit
		case ProtoShim6:
			// Hdr Ext Len sits where it does in every extension header
			// (RFC 5533 §5.1); check it so callers may read the whole
			// Shim6 header without another bounds test.
			if off+Shim6MinimumSize > end ||
				off+(int(ip[off+extLength])+1)*extUnit > end {
				return 0, count, flags, 0, 0, insertOff, insertField, ChainTruncated
			}
			fallthrough
		default:
			return nh, count, flags, off, field, insertOff, insertField, ChainOK
		}
		if off+n > end {
			return 0, count, flags, 0, 0, insertOff, insertField, ChainTruncated
		}
		if count == MaxExtensionHeaders {
			return 0, count, flags, 0, 0, insertOff, insertField, ChainTooLong
		}
		next := ip[off+extNextHeader]
		if !placed {
			switch {
			case nh == ProtoHopByHop || nh == ProtoRouting:
				insertOff, insertField = off+n, off
			case nh == ProtoDestOpts && next == ProtoRouting:
				// Options for the routing header's intermediate
				// destinations: the routing header that follows moves
				// the insertion point past both.
			default:
				placed = true
			}
		}
		count++
		if nh == ProtoFragment {
			flags |= walkFragmented
			// The 13-bit Fragment Offset is the top of the 16-bit word;
			// the low three bits are Res and the M flag.
			if binary.BigEndian.Uint16(ip[off+fragmentOffsetField:])>>3 != 0 {
				return next, count, flags | walkNonFirstFragment, off + n, off, insertOff, insertField, ChainOK
			}
		}
		field, off, nh = off, off+n, next
	}
}
