package dataplane

import (
	"bufio"
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestFastPathInlining holds the compiler to inlining what the fast
// paths' per-packet loops (fastOut, fastIn, prefetch) call. Their speed
// rests on it: Go saves every live register around a call, and one call
// in those loops costs more than the work (fast.go). The inliner's
// budget is easy to outgrow by a line or two, silently; this test says
// so, as net/netip's TestInlining does for its own hot helpers.
func TestFastPathInlining(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is not found (%v): cannot ask the compiler what it inlines", err)
	}
	const dp, hdr = "shim6d/dataplane", "shim6d/dataplane/header"
	out, err := exec.Command(goTool, "build", "-gcflags=-m", dp, hdr).CombinedOutput()
	if err != nil {
		t.Fatalf("go build -gcflags=-m: %v\n%s", err, out)
	}
	got := inlinable(out)

	want := map[string][]string{
		dp: {
			// Every packet.
			"headers",
			"(*fastFwd).plain",
			"(*fastFwd).macsOf",
			"(*prefixSet).index",
			"(*fastPrefix).contains",
			"note",
			// Context reads: the seqlock and the line copies between its
			// loads, then the decoders of the copied words.
			"(*ctxRecord).seqBegin",
			"(*ctxRecord).seqStable",
			"copyRec",
			"copyPair",
			"(*ctxLine).holds",
			"(*ctxLine).flags",
			"(*ctxLine).port",
			"(*ctxLine).peerTag",
			"(*ctxLine).localTag",
			// prefetch's keys and its walk along the index's cache line.
			"(*ContextTable).hashWords",
			"(*pairIndex).walkLine",
			// Inbound delivery's neighbour lookup.
			"(*neighborTable).lookupWords",
			"(*neighborTable).hash",
			// SYNs for the MSS clamp. (The retransmission watch's common
			// case is written out in fastOut: it calls nothing.)
			"tcpSYN",
		},
		hdr: {
			"EndsFixedHeader",
			"Shim6Payload.ContextTag",
		},
	}
	for pkg, fns := range want {
		var lost []string
		for _, fn := range fns {
			if !got[pkg][fn] {
				lost = append(lost, fn)
			}
		}
		if len(lost) > 0 {
			t.Errorf("%s: no longer inlinable: %s\n(go build -gcflags=-m=2 %s gives each one's cost against the budget)",
				pkg, strings.Join(lost, ", "), pkg)
		}
	}
}

// canInline matches the compiler's report of an inlinable function.
var canInline = regexp.MustCompile(`^\S+:\d+:\d+: can inline (\S+)`)

// inlinable reads the output of go build -gcflags=-m: the inlinable
// functions by package, which the go command names in a "# path" line
// before each package's diagnostics.
func inlinable(out []byte) map[string]map[string]bool {
	got := map[string]map[string]bool{}
	pkg := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "# "); ok {
			pkg = p
			continue
		}
		if m := canInline.FindStringSubmatch(line); m != nil {
			if got[pkg] == nil {
				got[pkg] = map[string]bool{}
			}
			got[pkg][m[1]] = true
		}
	}
	return got
}
