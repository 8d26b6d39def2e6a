package configs

import (
	"encoding"
	"log/slog"
	"strings"
	"testing"
)

// TestEnums checks that each word setting decodes its own words, refuses any
// other with a message listing them, and encodes back as written.
func TestEnums(t *testing.T) {
	type enum interface {
		encoding.TextUnmarshaler
		String() string
	}
	tests := []struct {
		name  string
		new   func() enum
		words []string
		want  string // the message for "bogus"
	}{
		{"Role", func() enum { return new(Role) }, []string{"inside", "uplink"},
			`"bogus" is not a role; write "inside" (the site side) or "uplink" (an ISP)`},
		{"Polling", func() enum { return new(Polling) }, []string{"busy", "adaptive"},
			`"bogus" is not a polling mode; write "busy" (spin on the queues: production) or "adaptive" (back off when idle)`},
		{"Failback", func() enum { return new(Failback) }, []string{"return", "stay"},
			`"bogus" is not a failback policy; write "return" (back to the preferred pair after failback_hold) or "stay"`},
		{"LogLevel", func() enum { return new(LogLevel) }, []string{"debug", "info", "warn", "error"},
			`"bogus" is not a log level; write "debug", "info", "warn" or "error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, w := range tt.words {
				v := tt.new()
				if err := v.UnmarshalText([]byte(w)); err != nil {
					t.Errorf("UnmarshalText(%q) = %v", w, err)
				}
				if v.String() != w {
					t.Errorf("UnmarshalText(%q) then String() = %q", w, v.String())
				}
				text, err := v.(encoding.TextMarshaler).MarshalText()
				if err != nil || string(text) != w {
					t.Errorf("MarshalText() = %q, %v; want %q", text, err, w)
				}
			}
			// Words are matched exactly, as the daemon compares them.
			for _, bad := range []string{"", strings.ToUpper(tt.words[0]), " " + tt.words[0]} {
				v := tt.new()
				if err := v.UnmarshalText([]byte(bad)); err == nil || v.String() != "" {
					t.Errorf("UnmarshalText(%q) accepted it: %q", bad, v.String())
				}
			}
			err := tt.new().UnmarshalText([]byte("bogus"))
			if err == nil || err.Error() != tt.want {
				t.Errorf("UnmarshalText(bogus) = %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestLogLevel(t *testing.T) {
	for l, want := range map[LogLevel]slog.Level{
		LogDebug: slog.LevelDebug, LogInfo: slog.LevelInfo, LogWarn: slog.LevelWarn, LogError: slog.LevelError,
	} {
		if got := l.Level(); got != want {
			t.Errorf("%s.Level() = %v, want %v", l, got, want)
		}
	}
	if got := Default().Daemon.LogLevel; got != LogInfo {
		t.Errorf("default log level %q, want %q", got, LogInfo)
	}
}
