// Package shim6layer registers Shim6 with gopacket: layer types for the
// payload extension header (RFC 5533 §5.2) and the control messages (RFC
// 5533 §5.3–§5.14, RFC 5534 §5), and the decoder for IPv6 Next Header 140,
// so gopacket.NewPacket and DecodingLayerParser decode Shim6. It is kept
// apart from package wire so that the control core does not link gopacket.
//
// Next Header 140 covers both forms, told apart by the P bit (RFC 5533
// §5.1), while gopacket maps a protocol number to one layer type. So 140
// maps to LayerTypeShim6, whose decoder looks at the P bit and decodes a
// Payload or a Control layer. gopacket.NewPacket therefore shows IPv6,
// Shim6Payload, UDP (or IPv6, Shim6Control). A DecodingLayerParser needs a
// DecodingLayer for LayerTypeShim6 too: add a Demux, which consumes no
// octets and names the layer that follows, beside a Payload and a Control;
// the decoded list then reads IPv6, Shim6, Shim6Payload, UDP.
package shim6layer

import (
	"errors"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"shim6d/control/wire"
)

// Layer type numbers, in the 1000–1999 range gopacket leaves to users.
const (
	layerNumShim6   = 1400
	layerNumPayload = 1401
	layerNumControl = 1402
)

var (
	// LayerTypeShim6 is what IPv6 Next Header 140 decodes as (RFC 5533
	// §5): a dispatch on the P bit to LayerTypeShim6Payload or
	// LayerTypeShim6Control.
	LayerTypeShim6 = gopacket.RegisterLayerType(layerNumShim6, gopacket.LayerTypeMetadata{
		Name: "Shim6", Decoder: gopacket.DecodeFunc(decodeShim6)})
	// LayerTypeShim6Payload is the Shim6 payload extension header (RFC 5533
	// §5.2).
	LayerTypeShim6Payload = gopacket.RegisterLayerType(layerNumPayload, gopacket.LayerTypeMetadata{
		Name: "Shim6Payload", Decoder: gopacket.DecodeFunc(decodePayload)})
	// LayerTypeShim6Control is a Shim6 control message (RFC 5533 §5.3).
	LayerTypeShim6Control = gopacket.RegisterLayerType(layerNumControl, gopacket.LayerTypeMetadata{
		Name: "Shim6Control", Decoder: gopacket.DecodeFunc(decodeControl)})
)

func init() {
	layers.IPProtocolMetadata[wire.ProtocolNumber] = layers.EnumMetadata{
		DecodeWith: gopacket.DecodeFunc(decodeShim6),
		Name:       "Shim6",
		LayerType:  LayerTypeShim6,
	}
}

func decodeShim6(data []byte, p gopacket.PacketBuilder) error {
	if wire.IsPayload(data) {
		return decodePayload(data, p)
	}
	return decodeControl(data, p)
}

func decodePayload(data []byte, p gopacket.PacketBuilder) error {
	s := &Payload{}
	if err := s.DecodeFromBytes(data, p); err != nil {
		return err
	}
	p.AddLayer(s)
	return p.NextDecoder(s.NextHeader)
}

func decodeControl(data []byte, p gopacket.PacketBuilder) error {
	c := &Control{}
	err := c.DecodeFromBytes(data, p)
	if c.Contents != nil {
		// Framed: show the layer even when its contents are bad, so tools
		// can print what the message says and why it is refused.
		p.AddLayer(c)
	}
	if err != nil {
		return err
	}
	if len(c.Payload) > 0 {
		return p.NextDecoder(gopacket.LayerTypePayload)
	}
	return nil
}

func feedback(df gopacket.DecodeFeedback, err error) error {
	if errors.Is(err, wire.ErrTruncated) {
		df.SetTruncated()
	}
	return err
}

// Payload is the Shim6 payload extension header (RFC 5533 §5.2) as a
// gopacket layer. It chains to the ULP by NextHeader.
type Payload struct {
	layers.BaseLayer
	// NextHeader is the protocol of the ULP packet that follows.
	NextHeader layers.IPProtocol
	// ContextTag is the 47-bit receiver context tag.
	ContextTag uint64
}

// LayerType returns LayerTypeShim6Payload (RFC 5533 §5.2).
func (s *Payload) LayerType() gopacket.LayerType { return LayerTypeShim6Payload }

// CanDecode returns LayerTypeShim6Payload (RFC 5533 §5.2).
func (s *Payload) CanDecode() gopacket.LayerClass { return LayerTypeShim6Payload }

// NextLayerType returns the ULP's layer type, from Next Header (RFC 5533
// §5.2).
func (s *Payload) NextLayerType() gopacket.LayerType { return s.NextHeader.LayerType() }

// DecodeFromBytes decodes the 8-octet header, refusing P = 0 and Hdr Ext Len
// other than 0 (RFC 5533 §5.2).
func (s *Payload) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	h, err := wire.ParsePayloadHeader(data)
	if err != nil {
		return feedback(df, err)
	}
	s.NextHeader, s.ContextTag = layers.IPProtocol(h.NextHeader), h.ContextTag
	s.Contents, s.Payload = data[:wire.PayloadHeaderLen], data[wire.PayloadHeaderLen:]
	return nil
}

// SerializeTo prepends the header (RFC 5533 §5.2) to b.
func (s *Payload) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	buf, err := b.PrependBytes(wire.PayloadHeaderLen)
	if err != nil {
		return err
	}
	_, err = wire.PayloadHeader{NextHeader: uint8(s.NextHeader), ContextTag: s.ContextTag}.MarshalTo(buf)
	return err
}

// Control is a Shim6 control message (RFC 5533 §5.3) as a gopacket layer.
type Control struct {
	layers.BaseLayer
	// Header is the common header.
	Header wire.Header
	// ChecksumOK reports whether the checksum verifies (RFC 5533 §5.3).
	ChecksumOK bool
	// Message is the decoded message; it is set even when the checksum is
	// bad, and nil when the message is malformed otherwise.
	Message wire.Message
	// Err is why the message was refused, nil if it was not; it is also
	// what DecodeFromBytes returned.
	Err error
}

// LayerType returns LayerTypeShim6Control (RFC 5533 §5.3).
func (c *Control) LayerType() gopacket.LayerType { return LayerTypeShim6Control }

// CanDecode returns LayerTypeShim6Control (RFC 5533 §5.3).
func (c *Control) CanDecode() gopacket.LayerClass { return LayerTypeShim6Control }

// NextLayerType returns gopacket.LayerTypeZero: control messages carry Next
// Header 59, and octets after them are ignored (RFC 8200 §4.7).
func (c *Control) NextLayerType() gopacket.LayerType { return gopacket.LayerTypeZero }

// DecodeFromBytes frames and decodes one control message with wire.Decode's
// checks (RFC 5533 §12.3) and returns its error. When the message is framed (header and
// Hdr Ext Len fit the data), Contents, Header and ChecksumOK are set even if
// it is refused, and Message too when only the checksum is wrong.
func (c *Control) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	*c = Control{}
	h, err := wire.ParseHeader(data)
	if err != nil {
		c.Err = err
		return feedback(df, err)
	}
	n := h.Len()
	c.Header = h
	c.Contents, c.Payload = data[:n], data[n:]
	c.ChecksumOK = wire.ChecksumOK(c.Contents)
	c.Message, c.Err = wire.Decoder{SkipChecksum: true}.Decode(c.Contents)
	if !c.ChecksumOK {
		// The receiver's first check (RFC 5533 §12.3) decides the error.
		_, c.Err = wire.Decode(c.Contents)
	}
	return c.Err
}

// SerializeTo prepends Message, encoded (RFC 5533 §5.3), to b.
func (c *Control) SerializeTo(b gopacket.SerializeBuffer, _ gopacket.SerializeOptions) error {
	if c.Message == nil {
		return errors.New("shim6layer: Control.SerializeTo without a Message")
	}
	buf, err := b.PrependBytes(c.Message.Len())
	if err != nil {
		return err
	}
	_, err = c.Message.MarshalTo(buf)
	return err
}

// Demux is the DecodingLayer for LayerTypeShim6 in a DecodingLayerParser:
// it consumes nothing and hands the same octets on as LayerTypeShim6Payload
// or LayerTypeShim6Control, by the P bit (RFC 5533 §5.1).
type Demux struct {
	data []byte
	next gopacket.LayerType
}

// LayerType returns LayerTypeShim6 (IPv6 Next Header 140, RFC 5533 §5).
func (d *Demux) LayerType() gopacket.LayerType { return LayerTypeShim6 }

// CanDecode returns LayerTypeShim6 (RFC 5533 §5).
func (d *Demux) CanDecode() gopacket.LayerClass { return LayerTypeShim6 }

// NextLayerType returns LayerTypeShim6Payload or LayerTypeShim6Control, by
// the P bit (RFC 5533 §5.1).
func (d *Demux) NextLayerType() gopacket.LayerType { return d.next }

// LayerContents returns nothing: the dispatch owns no octets of the Shim6
// header (RFC 5533 §5.1), which the next layer decodes.
func (d *Demux) LayerContents() []byte { return nil }

// LayerPayload returns all the octets it was given: the whole Shim6 header
// (RFC 5533 §5.1) and what follows.
func (d *Demux) LayerPayload() []byte { return d.data }

// DecodeFromBytes reads the P bit (RFC 5533 §5.1).
func (d *Demux) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	d.data = data
	if len(data) < 3 {
		df.SetTruncated()
		return &wire.Error{Field: "Shim6 header", Offset: 0, Err: wire.ErrTruncated, Reason: "no P bit"}
	}
	d.next = LayerTypeShim6Control
	if wire.IsPayload(data) {
		d.next = LayerTypeShim6Payload
	}
	return nil
}
