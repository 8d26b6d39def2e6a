package configs

import (
	"fmt"
	"log/slog"
	"slices"
)

// The settings below take one of a few words. Each is a string type, so
// that it compares with its constants and prints as written, and it decodes
// itself: a word the daemon does not know is refused while the file is read,
// with the words it does know (checkTypes turns the refusal into an *Error
// at the key's line, as for MAC and Duration).

// choice describes one such setting for messages: what it is, the words it
// takes, and the sentence telling the operator what to write.
type choice[T ~string] struct {
	what   string
	values []T
	write  string
}

// check refuses a value that is not one of c's words; the message is the
// one an *Error carries, whether the value came from a file or from code.
func (c choice[T]) check(v T) error {
	if slices.Contains(c.values, v) {
		return nil
	}
	return fmt.Errorf("%q is not %s; %s", string(v), c.what, c.write)
}

// decode is UnmarshalText for c's type.
func (c choice[T]) decode(text []byte, v *T) error {
	if err := c.check(T(text)); err != nil {
		return err
	}
	*v = T(text)
	return nil
}

// Role is a port's role (port.role): RoleInside or RoleUplink. The zero
// Role means the key is missing, which validation refuses.
type Role string

// Port roles.
const (
	// RoleInside is the site-side port: the unmodified hosts are behind it.
	RoleInside Role = "inside"
	// RoleUplink is a port to one ISP.
	RoleUplink Role = "uplink"
)

var roles = choice[Role]{"a role", []Role{RoleInside, RoleUplink},
	fmt.Sprintf("write %q (the site side) or %q (an ISP)", RoleInside, RoleUplink)}

// String returns the role as written in the configuration.
func (r Role) String() string { return string(r) }

// MarshalText implements encoding.TextMarshaler.
func (r Role) MarshalText() ([]byte, error) { return []byte(r), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts only
// RoleInside and RoleUplink.
func (r *Role) UnmarshalText(text []byte) error { return roles.decode(text, r) }

// Polling is how the workers poll their rx queues (daemon.polling):
// PollBusy or PollAdaptive.
type Polling string

// Polling modes.
const (
	// PollBusy spins on the rx queues: lowest latency, one full core per
	// worker. For production.
	PollBusy Polling = "busy"
	// PollAdaptive backs off when the queues stay empty, so a lab or a
	// laptop is not held at 100% CPU. The default.
	PollAdaptive Polling = "adaptive"
)

var pollings = choice[Polling]{"a polling mode", []Polling{PollBusy, PollAdaptive},
	fmt.Sprintf("write %q (spin on the queues: production) or %q (back off when idle)", PollBusy, PollAdaptive)}

// String returns the polling mode as written in the configuration.
func (p Polling) String() string { return string(p) }

// MarshalText implements encoding.TextMarshaler.
func (p Polling) MarshalText() ([]byte, error) { return []byte(p), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts only
// PollBusy and PollAdaptive.
func (p *Polling) UnmarshalText(text []byte) error { return pollings.decode(text, p) }

// Failback is what a context does after REAP (RFC 5534) moved it off its
// preferred pair, its ULIDs (shim.failback): FailbackReturn or FailbackStay.
type Failback string

// Failback policies.
const (
	// FailbackReturn tries the preferred pair again once the context has
	// been off it for shim.failback_hold, and every hold time after that
	// while it stays off. The default.
	FailbackReturn Failback = "return"
	// FailbackStay keeps a context on the pair REAP moved it to.
	FailbackStay Failback = "stay"
)

var failbacks = choice[Failback]{"a failback policy", []Failback{FailbackReturn, FailbackStay},
	fmt.Sprintf("write %q (back to the preferred pair after failback_hold) or %q", FailbackReturn, FailbackStay)}

// String returns the policy as written in the configuration.
func (f Failback) String() string { return string(f) }

// MarshalText implements encoding.TextMarshaler.
func (f Failback) MarshalText() ([]byte, error) { return []byte(f), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts only
// FailbackReturn and FailbackStay.
func (f *Failback) UnmarshalText(text []byte) error { return failbacks.decode(text, f) }

// LogLevel is the least severe level the daemon logs (daemon.log_level).
type LogLevel string

// Log levels, from the most verbose.
const (
	// LogDebug logs every Shim6 control message sent and received, among
	// others.
	LogDebug LogLevel = "debug"
	// LogInfo adds the daemon's ordinary events to warnings and errors.
	// The default.
	LogInfo LogLevel = "info"
	// LogWarn logs warnings and errors only.
	LogWarn LogLevel = "warn"
	// LogError logs errors only.
	LogError LogLevel = "error"
)

var logLevels = choice[LogLevel]{"a log level", []LogLevel{LogDebug, LogInfo, LogWarn, LogError},
	fmt.Sprintf("write %q, %q, %q or %q", LogDebug, LogInfo, LogWarn, LogError)}

// String returns the level as written in the configuration.
func (l LogLevel) String() string { return string(l) }

// MarshalText implements encoding.TextMarshaler.
func (l LogLevel) MarshalText() ([]byte, error) { return []byte(l), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts only the
// four levels.
func (l *LogLevel) UnmarshalText(text []byte) error { return logLevels.decode(text, l) }

// Level returns l as a slog level; slog.LevelInfo for a level Validate
// would refuse.
func (l LogLevel) Level() slog.Level {
	switch l {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}
