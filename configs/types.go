package configs

import (
	"fmt"
	"net"
	"time"
)

// MAC is an Ethernet (EUI-48) address. In TOML it is written as six
// colon-separated hex bytes, "02:00:00:00:00:01"; the zero MAC means "not
// set". It is an array, not net.HardwareAddr, so that it compares with ==
// and holds no pointer.
type MAC [6]byte

// String returns the MAC as six lower-case, colon-separated hex bytes.
func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// MarshalText implements encoding.TextMarshaler, so that a Config encodes
// back to the TOML it was read from.
func (m MAC) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. It accepts what
// net.ParseMAC accepts for a 6-byte address (colons, hyphens, or Cisco dots)
// and refuses the 8- and 20-byte forms, which are not Ethernet addresses.
func (m *MAC) UnmarshalText(text []byte) error {
	hw, err := net.ParseMAC(string(text))
	if err != nil {
		return err
	}
	if len(hw) != len(m) {
		return fmt.Errorf("%d bytes, not 6", len(hw))
	}
	copy(m[:], hw)
	return nil
}

// IsUnicast reports whether m is a unicast address: not zero and with the
// I/G bit (the least significant bit of the first byte, IEEE 802 §8.2) clear.
// A neighbor or next hop must have one.
func (m MAC) IsUnicast() bool { return m != MAC{} && m[0]&1 == 0 }

// Duration is a time.Duration written in TOML as a Go duration string, "30s"
// or "500ms". A bare integer is refused: it would be read as nanoseconds,
// which is never what an operator means.
type Duration struct{ time.Duration }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with time.ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}
