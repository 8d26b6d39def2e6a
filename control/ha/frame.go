package ha

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
)

// FrameType is what a frame carries.
type FrameType uint8

// Frame types.
const (
	// FrameHello opens a connection, each way: a 16-octet nonce.
	FrameHello FrameType = 1 + iota
	// FrameBatch carries records from the active.
	FrameBatch
	// FrameHeartbeat says the active is alive and has nothing to send.
	FrameHeartbeat
	// FrameAck tells the active the sequence number of the last batch
	// or heartbeat the standby's control core applied: 8 octets.
	FrameAck
	numFrameTypes
)

// Frame layout, big-endian:
//
//	0  length(4)   octets after this field: header rest, body, MAC
//	4  type(1)
//	5  version(1)  frameVersion
//	6  reserved(2) zero
//	8  sequence(8) 1, 2, 3, … per direction and connection; 0 for Hello
//	16 records(4)  records in the body (batches)
//	20 body
//	   MAC(32)     HMAC-SHA256 over octets 0 to the end of the body
//
// The length comes first so that a reader knows how much to read before
// it can check anything; it is bounded by MaxFrame, so a forged length
// costs nothing but the connection.
const (
	frameHeader  = 20
	macSize      = sha256.Size
	frameVersion = 1
	nonceSize    = 16
	// MaxFrame bounds a frame's size: a batch is one chunk of the Feed,
	// at most ChunkBytes, well under it.
	MaxFrame = 1 << 20
)

// Errors of the frame layer. Each ends the connection and, through the
// standby's reconnection, starts a resync.
var (
	ErrBadMAC      = errors.New("ha: frame MAC does not verify")
	ErrSequenceGap = errors.New("ha: frame sequence gap")
	ErrBadFrame    = errors.New("ha: malformed frame")
)

// sealer MACs the frames one side sends and numbers them.
type sealer struct {
	mac hash.Hash
	seq uint64
	hdr [frameHeader]byte
	sum [macSize]byte
}

func newSealer(key []byte) *sealer { return &sealer{mac: hmac.New(sha256.New, key)} }

// seal fills the frame header for body and returns it and the MAC, valid
// until the next call: the body itself is sent as it is, without a copy.
// Hello frames carry sequence 0; the others take the next number.
func (s *sealer) seal(t FrameType, records uint32, body []byte) (hdr, mac []byte) {
	seq := uint64(0)
	if t != FrameHello {
		s.seq++
		seq = s.seq
	}
	h := s.hdr[:]
	binary.BigEndian.PutUint32(h[0:], uint32(frameHeader-4+len(body)+macSize))
	h[4], h[5], h[6], h[7] = byte(t), frameVersion, 0, 0
	binary.BigEndian.PutUint64(h[8:], seq)
	binary.BigEndian.PutUint32(h[16:], records)
	s.mac.Reset()
	s.mac.Write(h)
	s.mac.Write(body)
	return h, s.mac.Sum(s.sum[:0])
}

// frame is one opened frame; body aliases the read buffer.
type frame struct {
	typ     FrameType
	seq     uint64
	records uint32
	body    []byte
}

// opener checks the frames one side receives: their MAC and that their
// sequence numbers follow on.
type opener struct {
	mac  hash.Hash
	seq  uint64
	sum  [macSize]byte
	buf  []byte
	want FrameType // 0: any but Hello
}

func newOpener(key []byte) *opener { return &opener{mac: hmac.New(sha256.New, key)} }

// open checks a whole frame (length field included). The MAC is checked
// before anything the frame says is believed, the sequence number next.
func (o *opener) open(b []byte, f *frame) error {
	if len(b) < frameHeader+macSize || int(binary.BigEndian.Uint32(b))+4 != len(b) {
		return fmt.Errorf("%w: %d octets", ErrBadFrame, len(b))
	}
	n := len(b) - macSize
	o.mac.Reset()
	o.mac.Write(b[:n])
	if !hmac.Equal(o.mac.Sum(o.sum[:0]), b[n:]) {
		return ErrBadMAC
	}
	if b[5] != frameVersion || b[6] != 0 || b[7] != 0 {
		return fmt.Errorf("%w: version %d", ErrBadFrame, b[5])
	}
	*f = frame{typ: FrameType(b[4]), seq: binary.BigEndian.Uint64(b[8:]), records: binary.BigEndian.Uint32(b[16:]), body: b[frameHeader:n]}
	if f.typ == 0 || f.typ >= numFrameTypes {
		return fmt.Errorf("%w: type %d", ErrBadFrame, f.typ)
	}
	if f.typ == FrameHello {
		if f.seq != 0 || len(f.body) != nonceSize {
			return fmt.Errorf("%w: hello", ErrBadFrame)
		}
		return nil
	}
	if f.seq != o.seq+1 {
		return fmt.Errorf("%w: got %d, want %d", ErrSequenceGap, f.seq, o.seq+1)
	}
	if f.typ == FrameAck && len(f.body) != 8 || f.typ == FrameHeartbeat && len(f.body) != 0 {
		return fmt.Errorf("%w: %d octets of type %d", ErrBadFrame, len(f.body), f.typ)
	}
	o.seq = f.seq
	return nil
}

// readFrame reads one frame into o's buffer (reused: the frame is valid
// until the next read) and opens it.
func (o *opener) readFrame(r io.Reader, f *frame) error {
	var l [4]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return err
	}
	n := int(binary.BigEndian.Uint32(l[:]))
	if n < frameHeader-4+macSize || n+4 > MaxFrame {
		return fmt.Errorf("%w: length %d", ErrBadFrame, n)
	}
	if cap(o.buf) < n+4 {
		o.buf = make([]byte, n+4, max(n+4, 64<<10))
	}
	b := o.buf[:n+4]
	copy(b, l[:])
	if _, err := io.ReadFull(r, b[4:]); err != nil {
		return err
	}
	return o.open(b, f)
}

// sessionKey derives the key of one connection from the configured key
// and both Hellos' nonces: a frame recorded on another connection does
// not verify on this one.
func sessionKey(key []byte, activeNonce, standbyNonce []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("shim6d ha v1 session"))
	m.Write(activeNonce)
	m.Write(standbyNonce)
	return m.Sum(nil)
}
