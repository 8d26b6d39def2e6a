package dpdk

/*
#include <stdlib.h>
int shim6_log_capture(void);
*/
import "C"

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"unsafe"
)

// DPDK's log. EALInit points DPDK's log stream at a stream whose writes
// come to shim6GoLog, before rte_eal_init logs anything. Each line goes to
// the logger SetLogger gave, at debug level (to stderr, as DPDK itself
// would, when none was given), and the recent ones are kept: when a DPDK
// call fails, the error carries what DPDK said about it, which is often
// the only real reason (a driver's probe logs why it failed and EAL goes
// on without the device).

// logLine is one line DPDK logged.
type logLine struct {
	seq   uint64
	level int // RTE_LOG_EMERG (1) .. RTE_LOG_DEBUG (8)
	text  string
}

// keptLines bounds the recent lines kept, and initLines those kept from
// rte_eal_init, which probes the devices.
const (
	keptLines = 64
	initLines = 4096
)

var dlog struct {
	sync.Mutex
	logger  *slog.Logger
	partial []byte // a message's text up to its newline
	seq     uint64
	recent  [keptLines]logLine // a ring: line n at recent[n%keptLines]
	init    []logLine          // every line of rte_eal_init, while inInit
	inInit  bool
	// While rte_eal_init runs with stdout and stderr in memory files, a
	// line sent to the logger would land there too (it writes to one of
	// them) and come back as EAL's output; lines wait in held instead.
	hold bool
	held []logLine
}

// SetLogger sends DPDK's log lines to l at debug level, each with DPDK's
// own level as dpdk_level; nil sends them to stderr. Call it before
// EALInit so EAL's start-up lines go there too.
func SetLogger(l *slog.Logger) {
	dlog.Lock()
	dlog.logger = l
	dlog.Unlock()
}

//export shim6GoLog
func shim6GoLog(buf *C.char, n C.int, level C.int) {
	b := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	dlog.Lock()
	defer dlog.Unlock()
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			dlog.partial = append(dlog.partial, b...)
			return
		}
		text := string(append(dlog.partial, b[:i]...))
		dlog.partial = dlog.partial[:0]
		b = b[i+1:]
		addLine(text, int(level))
	}
}

//export shim6GoStdio
func shim6GoStdio(buf *C.char, n C.int, fd C.int) {
	text := C.GoStringN(buf, n)
	dlog.Lock()
	defer dlog.Unlock()
	level := 4 // RTE_LOG_ERR: stderr has the complaints
	if fd == 1 {
		level = 7 // RTE_LOG_INFO: stdout has the usage text
	}
	for _, line := range strings.Split(text, "\n") {
		// rte_eal_init_alert logs its message too; the copy on stderr
		// would only push the log's lines before it out of the cause.
		if !strings.HasPrefix(line, "EAL: FATAL: ") {
			addLine(line, level)
		}
	}
}

// addLine keeps and forwards one line; dlog is locked.
func addLine(text string, level int) {
	text = strings.TrimRight(text, " \t\r")
	if text == "" {
		return
	}
	dlog.seq++
	l := logLine{seq: dlog.seq, level: level, text: text}
	dlog.recent[l.seq%keptLines] = l
	if dlog.inInit && len(dlog.init) < initLines {
		dlog.init = append(dlog.init, l)
	}
	if dlog.hold {
		if len(dlog.held) < initLines {
			dlog.held = append(dlog.held, l)
		}
		return
	}
	emit(l)
}

// emit sends a line to the logger, or to stderr without one; dlog is
// locked.
func emit(l logLine) {
	if dlog.logger == nil {
		fmt.Fprintln(os.Stderr, l.text)
		return
	}
	dlog.logger.Debug(l.text, "dpdk_level", levelName(l.level))
}

// holdLog makes lines wait (hold true) or sends those that waited.
func holdLog(hold bool) {
	dlog.Lock()
	defer dlog.Unlock()
	dlog.hold = hold
	if !hold {
		for _, l := range dlog.held {
			emit(l)
		}
		dlog.held = nil
	}
}

func levelName(level int) string {
	names := []string{"", "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}
	if level > 0 && level < len(names) {
		return names[level]
	}
	return fmt.Sprint(level)
}

// captureLog makes DPDK log through shim6GoLog; EALInit calls it once,
// before rte_eal_init.
func captureLog() error {
	if ret := C.shim6_log_capture(); ret != 0 {
		return newError("", "rte_openlog_stream", ret)
	}
	return nil
}

// logMark returns the sequence number of the last line logged, for
// logSince.
func logMark() uint64 {
	dlog.Lock()
	defer dlog.Unlock()
	return dlog.seq
}

// logSince returns what DPDK said about a failure since mark: the last two
// lines logged at warning level or worse (DPDK logs a failure at ERR and
// its context just before), or the last line at any level if there is
// none; "" when nothing was logged, or when too much was to tell.
func logSince(mark uint64) string {
	dlog.Lock()
	defer dlog.Unlock()
	var lines []logLine
	for s := max(mark+1, dlog.seq+1-min(dlog.seq, keptLines)); s <= dlog.seq && s > 0; s++ {
		lines = append(lines, dlog.recent[s%keptLines])
	}
	return cause(lines)
}

// cause picks the lines that say why something failed; see logSince.
func cause(lines []logLine) string {
	var bad []string
	for _, l := range lines {
		// getopt complains twice about a bad option: EAL parses twice.
		if l.level <= 5 && (len(bad) == 0 || bad[len(bad)-1] != l.text) { // RTE_LOG_WARNING
			bad = append(bad, l.text)
		}
	}
	switch {
	case len(bad) > 2:
		bad = bad[len(bad)-2:]
	case len(bad) == 0 && len(lines) > 0:
		bad = []string{lines[len(lines)-1].text}
	}
	return strings.Join(bad, " / ")
}

// probeCause returns what DPDK said while rte_eal_init failed to create
// device: the error lines naming it, with the driver's own reason, which
// drivers log just before EAL's generic "vdev_probe(): failed to initialize
// DEVICE device" and which may not name the device ("Couldn't open
// in.pcap"). "" when rte_eal_init logged no error about it.
func probeCause(device string) string {
	dlog.Lock()
	defer dlog.Unlock()
	init := dlog.init
	for k := len(init) - 1; k >= 0; k-- {
		if init[k].level > 4 || !mentions(init[k].text, device) { // RTE_LOG_ERR
			continue
		}
		var why []string
		for j := k - 1; j >= 0 && j >= k-2; j-- {
			p := init[j]
			if p.level > 5 || strings.HasPrefix(p.text, "EAL:") || strings.Contains(p.text, "vdev_probe()") {
				break
			}
			why = append([]string{p.text}, why...)
		}
		if len(why) == 0 || !strings.Contains(init[k].text, "failed to initialize") {
			why = append(why, init[k].text)
		}
		return strings.Join(why, " / ")
	}
	return ""
}

// mentions reports whether text names device as a whole word: net_null1
// is not mentioned by a line about net_null10.
func mentions(text, device string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], device)
		if j < 0 {
			return false
		}
		end := i + j + len(device)
		if end == len(text) || !isNameByte(text[end]) {
			return true
		}
		i = end
	}
}

func isNameByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
