package header

// ShimResult says why InsertShim6Payload or StripShim6Payload left a packet
// alone. Like ChainError it is a reason code for drop counters, not an
// error value; the zero value, ShimOK, means the packet was rewritten.
type ShimResult uint8

const (
	// ShimOK means the payload header was inserted or stripped.
	ShimOK ShimResult = iota
	// ShimBadFrame means off, length or l3off do not describe a frame
	// inside buf: a caller bug, reported rather than panicking.
	ShimBadFrame
	// ShimNotIPv6 means the frame has no valid IPv6 fixed header at l3off:
	// too short, version not 6, or a payload length past the frame's end
	// (IPv6.Check).
	ShimNotIPv6
	// ShimChainTruncated means an extension header runs past the packet
	// (ChainTruncated).
	ShimChainTruncated
	// ShimChainTooLong means more than MaxExtensionHeaders extension
	// headers (ChainTooLong).
	ShimChainTooLong
	// ShimHopByHopNotFirst means a misplaced hop-by-hop options header
	// (ChainHopByHopNotFirst).
	ShimHopByHopNotFirst
	// ShimNoHeadroom means fewer than Shim6PayloadSize bytes precede the
	// frame in buf, so the leading headers cannot move toward the front.
	ShimNoHeadroom
	// ShimTooBig means the payload length would exceed 65535 with the 8
	// bytes added (RFC 8200 §3; jumbograms are not supported).
	ShimTooBig
	// ShimAlreadyShimmed means the packet already carries a Shim6 header
	// at or before the insertion point; a second one is never added.
	ShimAlreadyShimmed
	// ShimNoPayloadHeader means the packet carries no Shim6 header to strip
	// (the walk stopped elsewhere, or at a non-first fragment).
	ShimNoPayloadHeader
	// ShimControlMessage means the Shim6 header is a control message
	// (P = 0, RFC 5533 §5.3): it goes to the control core, not stripped.
	ShimControlMessage
	// ShimBadPayloadHeader means a payload header (P = 1) whose Hdr Ext Len
	// is not 0 (RFC 5533 §5.2).
	ShimBadPayloadHeader
	// ShimChainMismatch means the Chain given to a WithChain variant does
	// not fit the packet: a caller bug, reported rather than panicking.
	ShimChainMismatch

	// NumShimResults is the number of ShimResult values, for sizing
	// per-reason counter arrays.
	NumShimResults
)

var shimResultNames = [NumShimResults]string{
	ShimOK:               "ok",
	ShimBadFrame:         "frame outside buffer",
	ShimNotIPv6:          "not a valid IPv6 packet",
	ShimChainTruncated:   "extension header truncated",
	ShimChainTooLong:     "too many extension headers",
	ShimHopByHopNotFirst: "hop-by-hop options header not first",
	ShimNoHeadroom:       "no headroom for the Shim6 header",
	ShimTooBig:           "payload length would exceed 65535",
	ShimAlreadyShimmed:   "packet already has a Shim6 header",
	ShimNoPayloadHeader:  "no Shim6 payload header",
	ShimControlMessage:   "Shim6 control message",
	ShimBadPayloadHeader: "malformed Shim6 payload header",
	ShimChainMismatch:    "chain does not match the packet",
}

// String returns a short description of the result, for logs and metric
// help text.
func (r ShimResult) String() string {
	if r < NumShimResults {
		return shimResultNames[r]
	}
	return "unknown shim result"
}

// chainResult maps a walk failure onto the ShimResult that reports it.
var chainResult = [NumChainErrors]ShimResult{
	ChainOK:               ShimOK,
	ChainTruncated:        ShimChainTruncated,
	ChainTooLong:          ShimChainTooLong,
	ChainHopByHopNotFirst: ShimHopByHopNotFirst,
}

// maxPayloadLength is the largest IPv6 payload length without a jumbo
// option (RFC 8200 §3).
const maxPayloadLength = 1<<16 - 1

// frameIPv6 validates the frame buf[off:off+length] with an IPv6 header at
// frame offset l3off and returns the IPv6 packet's bytes. Every comparison
// is arranged so that no sum can overflow, whatever the arguments.
func frameIPv6(buf []byte, off, length, l3off int) (IPv6, ShimResult) {
	if off < 0 || length < 0 || l3off < 0 || off > len(buf) || length > len(buf)-off {
		return nil, ShimBadFrame
	}
	if l3off > length {
		return nil, ShimNotIPv6
	}
	ip := IPv6(buf[off+l3off : off+length])
	if ip.Check() != IPv6OK {
		return nil, ShimNotIPv6
	}
	return ip, ShimOK
}

// InsertShim6Payload inserts a Shim6 payload extension header (RFC 5533
// §5.2) carrying the context tag (low 47 bits) into the frame
// buf[off:off+length], whose IPv6 header starts at frame offset l3off (14
// behind Ethernet II). The header goes where RFC 5533 §4.6 puts it (see
// Chain.InsertOffset): the bytes before that point — link header, IPv6
// header and any hop-by-hop, routing and routing-bound destination options
// headers — move Shim6PayloadSize bytes toward the front of buf, into the
// headroom; the rest of the packet stays where it is. The new header takes
// over the Next Header value that named what follows it, that field becomes
// ProtoShim6, and the payload length grows by 8. Addresses, hop limit and
// transport checksums are untouched (transport checksums cover the ULIDs,
// RFC 5533 §11.1, so inserting or stripping the header never touches them).
//
// It returns the new frame offset and length (off-8, length+8) and ShimOK,
// or leaves buf unchanged and returns off, length and the reason. It never
// panics and never allocates; any arguments are safe.
func InsertShim6Payload(buf []byte, off, length, l3off int, tag uint64) (newOff, newLen int, r ShimResult) {
	ip, r := frameIPv6(buf, off, length, l3off)
	if r != ShimOK {
		return off, length, r
	}
	nh, _, flags, _, _, insertOff, insertField, e := walk(ip)
	if e != ChainOK {
		return off, length, chainResult[e]
	}
	shimmed := nh == ProtoShim6 && flags&walkNonFirstFragment == 0
	return insert(buf, off, length, l3off, ip, shimmed, insertOff, insertField, tag)
}

// InsertShim6PayloadWithChain is InsertShim6Payload for a caller that has
// already walked the packet: c must be what WalkExtensions returned with
// ChainOK for this frame's IPv6 packet, unchanged since, which saves the
// second walk. A chain that does not fit the packet gives ShimChainMismatch
// where that is cheap to see; any other stale chain yields a wrong packet,
// but never a panic.
func InsertShim6PayloadWithChain(buf []byte, off, length, l3off int, c *Chain, tag uint64) (newOff, newLen int, r ShimResult) {
	ip, r := frameIPv6(buf, off, length, l3off)
	if r != ShimOK {
		return off, length, r
	}
	if c.InsertNextHeaderField < 0 || c.InsertNextHeaderField >= c.InsertOffset ||
		c.InsertOffset < IPv6MinimumSize || c.InsertOffset > IPv6MinimumSize+int(ip.PayloadLength()) {
		return off, length, ShimChainMismatch
	}
	_, shimmed := c.Shim6()
	return insert(buf, off, length, l3off, ip, shimmed, c.InsertOffset, c.InsertNextHeaderField, tag)
}

// insert does the work of InsertShim6Payload once the frame is known to be
// IPv6 and the insertion point (insertOff, named by the Next Header field
// at insertField) lies inside it; shimmed says the chain has a Shim6 header.
func insert(buf []byte, off, length, l3off int, ip IPv6, shimmed bool, insertOff, insertField int, tag uint64) (newOff, newLen int, r ShimResult) {
	if shimmed {
		return off, length, ShimAlreadyShimmed
	}
	if int(ip.PayloadLength())+Shim6PayloadSize > maxPayloadLength {
		return off, length, ShimTooBig
	}
	if off < Shim6PayloadSize {
		return off, length, ShimNoHeadroom
	}
	newOff, newLen = off-Shim6PayloadSize, length+Shim6PayloadSize
	lead := l3off + insertOff
	// copy is memmove: the overlapping move toward the front is safe.
	copy(buf[newOff:newOff+lead], buf[off:off+lead])
	ip = IPv6(buf[newOff+l3off : newOff+newLen])
	field := &ip[insertField]
	Shim6Payload(ip[insertOff:insertOff+Shim6PayloadSize]).Encode(*field, tag)
	*field = ProtoShim6
	ip.SetPayloadLength(ip.PayloadLength() + Shim6PayloadSize)
	return newOff, newLen, ShimOK
}

// StripShim6Payload removes the Shim6 payload extension header (RFC 5533
// §5.2, §12.2) from the frame buf[off:off+length], whose IPv6 header starts
// at frame offset l3off. It finds the header with WalkExtensions (the first
// Shim6 header in the chain), copies its Next Header into the field that
// named it, subtracts 8 from the payload length, and moves the bytes before
// it (link header, IPv6 header, preceding extension headers)
// Shim6PayloadSize bytes toward the back of buf, over the removed header;
// the rest of the packet stays where it is. The caller reads the context
// tag and restores the ULIDs before or after, as it likes.
//
// It returns the new frame offset and length (off+8, length-8) and ShimOK,
// or leaves buf unchanged and returns off, length and the reason; a control
// message (P = 0) gives ShimControlMessage. It never panics and never
// allocates; any arguments are safe.
func StripShim6Payload(buf []byte, off, length, l3off int) (newOff, newLen int, r ShimResult) {
	ip, r := frameIPv6(buf, off, length, l3off)
	if r != ShimOK {
		return off, length, r
	}
	nh, _, flags, at, field, _, _, e := walk(ip)
	if e != ChainOK {
		return off, length, chainResult[e]
	}
	if nh != ProtoShim6 || flags&walkNonFirstFragment != 0 {
		return off, length, ShimNoPayloadHeader
	}
	return strip(buf, off, length, l3off, ip, at, field)
}

// StripShim6PayloadWithChain is StripShim6Payload for a caller that has
// already walked the packet (to read the context tag, say): c must be what
// WalkExtensions returned with ChainOK for this frame's IPv6 packet,
// unchanged since (rewriting the addresses is fine). A chain that does not
// fit the packet gives ShimChainMismatch where that is cheap to see; any
// other stale chain yields a wrong packet, but never a panic.
func StripShim6PayloadWithChain(buf []byte, off, length, l3off int, c *Chain) (newOff, newLen int, r ShimResult) {
	ip, r := frameIPv6(buf, off, length, l3off)
	if r != ShimOK {
		return off, length, r
	}
	at, ok := c.Shim6()
	if !ok {
		return off, length, ShimNoPayloadHeader
	}
	// at > end-8 rather than at+8 > end: at comes from the caller and may
	// be large enough to overflow.
	if c.NextHeaderField < 0 || c.NextHeaderField >= at ||
		at > IPv6MinimumSize+int(ip.PayloadLength())-Shim6PayloadSize || ip[c.NextHeaderField] != ProtoShim6 {
		return off, length, ShimChainMismatch
	}
	return strip(buf, off, length, l3off, ip, at, c.NextHeaderField)
}

// strip does the work of StripShim6Payload once the frame is known to be
// IPv6 with a Shim6 header at at, inside the packet, named by the Next
// Header field at field.
func strip(buf []byte, off, length, l3off int, ip IPv6, at, field int) (newOff, newLen int, r ShimResult) {
	sh := Shim6(ip[at:])
	if !sh.IsPayload() {
		return off, length, ShimControlMessage
	}
	if sh.HdrExtLen() != 0 {
		return off, length, ShimBadPayloadHeader
	}
	ip[field] = sh.NextHeader()
	ip.SetPayloadLength(ip.PayloadLength() - Shim6PayloadSize)
	lead := l3off + at
	newOff, newLen = off+Shim6PayloadSize, length-Shim6PayloadSize
	copy(buf[newOff:newOff+lead], buf[off:off+lead])
	return newOff, newLen, ShimOK
}
