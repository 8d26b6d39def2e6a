package control

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"shim6d/control/admin"
	"shim6d/dataplane"
	"shim6d/ports"
)

// Live capture (shim6ctl capture): the workers copy what the operator asks
// for into rings of their own (dataplane.CaptureRing), the control core
// copies what it sends into one more, and Capture drains them into a
// pcapng stream, one interface per port, with each dropped packet's
// reason as its comment. A capture always ends by itself: at its count,
// at its seconds (at most CaptureMaxSeconds), or when its reader goes.

// Capture limits and defaults.
const (
	CaptureDefaultCount   = 1000
	CaptureMaxCount       = 1_000_000
	CaptureDefaultSeconds = 10
	CaptureMaxSeconds     = int(admin.CaptureMaxDuration / time.Second)
	// CaptureDefaultSnaplen keeps a full 1500-byte frame with a Shim6
	// payload header; CaptureMaxSnaplen a jumbo frame.
	CaptureDefaultSnaplen = 1600
	CaptureMaxSnaplen     = 9216
)

// captureSlots is each ring's size. The writer drains every
// captureDrainEvery, so a worker may copy captureSlots packets in that
// time (400 kpps at 2048 and 5 ms) before the ring overflows.
const (
	captureSlots      = 2048
	captureDrainEvery = 5 * time.Millisecond
)

// captureState is the core's part of a capture: whether one runs, and the
// ring the core's own sends go to while it does.
type captureState struct {
	busy atomic.Bool
	ring atomic.Pointer[dataplane.CaptureRing]
}

// captureSent copies a packet the core is about to send on port to the
// running capture, if one runs; the core's goroutine is the ring's one
// producer.
func (c *Core) captureSent(port int, p *ports.Packet) {
	if r := c.capture.ring.Load(); r != nil {
		r.Record(p, uint16(port), dataplane.CaptureSent, dataplane.DropNone)
	}
}

// captureFilter checks a request against the ports and the limits, and
// fills in its defaults.
func (c *Core) captureFilter(req *admin.CaptureRequest) (dataplane.CaptureFilter, error) {
	var f dataplane.CaptureFilter
	bad := func(format string, a ...any) error {
		return &admin.StatusError{Code: http.StatusBadRequest, Err: fmt.Errorf(format, a...)}
	}
	if req.What == "" {
		req.What = dataplane.CaptureAll.String()
	}
	w, err := dataplane.ParseCaptureWhat(req.What)
	if err != nil {
		return f, bad("what: %v", err)
	}
	f.What = w
	if req.Port != "" {
		var names []string
		for i, s := range c.cfg.Setup {
			if s.Name == req.Port {
				f.Ports = 1 << i
			}
			names = append(names, s.Name)
		}
		if f.Ports == 0 {
			return f, bad("port %q: no such port; write one of %s, or none for every port", req.Port, strings.Join(names, ", "))
		}
	}
	switch {
	case req.Count == 0:
		req.Count = CaptureDefaultCount
	case req.Count < 0 || req.Count > CaptureMaxCount:
		return f, bad("count %d: write a number of packets from 1 to %d", req.Count, CaptureMaxCount)
	}
	switch {
	case req.Seconds == 0:
		req.Seconds = CaptureDefaultSeconds
	case !(req.Seconds > 0 && req.Seconds <= float64(CaptureMaxSeconds)):
		return f, bad("seconds %g: write a duration above 0 and at most %d seconds", req.Seconds, CaptureMaxSeconds)
	}
	switch {
	case req.Snaplen == 0:
		req.Snaplen = CaptureDefaultSnaplen
	case req.Snaplen < 64 || req.Snaplen > CaptureMaxSnaplen:
		return f, bad("snaplen %d: write a number of bytes from 64 to %d", req.Snaplen, CaptureMaxSnaplen)
	}
	return f, nil
}

// errCaptureBusy refuses a second capture while one runs.
var errCaptureBusy = &admin.StatusError{Code: http.StatusConflict,
	Err: errors.New("a capture is already running, and only one may run at a time; wait for it to end (it stops at its count or seconds) or stop its shim6ctl")}

// Capture runs a capture as req asks and writes it to out as pcapng,
// calling flush after each batch so a reader sees it as it goes. It
// returns when the capture ends: at its count, its seconds, ctx's end (the
// reader left) or a write error. A request refused (bad request, another
// capture running) returns its error before anything is written.
func (c *Core) Capture(ctx context.Context, req admin.CaptureRequest, out io.Writer, flush func()) (admin.CaptureResult, error) {
	var res admin.CaptureResult
	filter, err := c.captureFilter(&req)
	if err != nil {
		return res, err
	}
	if !c.capture.busy.CompareAndSwap(false, true) {
		return res, errCaptureBusy
	}
	defer c.capture.busy.Store(false)

	rings := make([]*dataplane.CaptureRing, len(c.cfg.Workers)+1)
	for i := range rings {
		rings[i] = dataplane.NewCaptureRing(captureSlots, req.Snaplen, filter)
	}
	// The rings go in before the header is written: a reader that has
	// the header may count on every later packet being captured.
	for i, w := range c.cfg.Workers {
		w.SetCapture(rings[i])
	}
	c.capture.ring.Store(rings[len(rings)-1])
	stopped := false
	stop := func() {
		if !stopped {
			for _, w := range c.cfg.Workers {
				w.SetCapture(nil)
			}
			c.capture.ring.Store(nil)
			stopped = true
		}
	}
	defer stop()

	ng, err := newNgWriter(out, "shim6d "+c.cfg.Daemon.Version,
		fmt.Sprintf("shim6d capture: what=%s port=%s count=%d seconds=%g snaplen=%d", req.What, orAll(req.Port), req.Count, req.Seconds, req.Snaplen))
	for _, s := range c.cfg.Setup {
		if err != nil {
			break
		}
		_, err = ng.addInterface(s.Name, fmt.Sprintf("%s %s", s.Role, s.Device), req.Snaplen)
	}
	if err == nil {
		err = ng.flush()
	}
	if err != nil {
		return res, err
	}
	flush()

	d := captureDrain{ng: ng, left: req.Count, ports: len(c.cfg.Setup)}
	tick := time.NewTicker(captureDrainEvery)
	defer tick.Stop()
	deadline := time.NewTimer(time.Duration(req.Seconds * float64(time.Second)))
	defer deadline.Stop()
	res.End = admin.CaptureEndCount
	for d.left > 0 && err == nil {
		select {
		case <-ctx.Done():
			res.End = admin.CaptureEndReader
			err = ctx.Err()
		case <-deadline.C:
			res.End = admin.CaptureEndSeconds
			stop()
			// A worker may finish the round it loaded the ring in;
			// rounds take microseconds, an idle worker naps 200 µs.
			time.Sleep(time.Millisecond)
			err = d.drain(rings)
			d.left = 0
		case <-tick.C:
			err = d.drain(rings)
		}
		if err == nil {
			err = ng.flush()
		}
		if err == nil {
			flush()
		}
		c.Stats.CapturePackets.Add(d.written - res.Packets)
		res.Packets = d.written
	}
	stop()
	for _, r := range rings {
		res.Overflow += r.Overflow()
	}
	c.Stats.CaptureOverflow.Add(res.Overflow)
	if res.End == admin.CaptureEndReader {
		err = nil // the reader's choice, not a failure
	}
	if err != nil {
		res.End = admin.CaptureEndError
	}
	return res, err
}

// Capture makes the admin API's source a Capturer: POST /capture.
func (v adminView) Capture(ctx context.Context, req admin.CaptureRequest, out io.Writer, flush func()) (admin.CaptureResult, error) {
	return v.c.Capture(ctx, req, out, flush)
}

func orAll(port string) string {
	if port == "" {
		return "all"
	}
	return port
}

// captureDrain moves the rings' records into the file in time order.
type captureDrain struct {
	ng      *ngWriter
	left    int // packets the count still allows
	ports   int
	written uint64
	batch   []captureRec
	bytes   []byte
}

type captureRec struct {
	m        dataplane.CaptureMeta
	off, end int // in captureDrain.bytes
}

// drain empties every ring and writes what the count allows of it,
// ordered by time across the rings (each ring is in order already).
func (d *captureDrain) drain(rings []*dataplane.CaptureRing) error {
	d.batch, d.bytes = d.batch[:0], d.bytes[:0]
	for _, r := range rings {
		r.Drain(func(m dataplane.CaptureMeta, data []byte) {
			off := len(d.bytes)
			d.bytes = append(d.bytes, data...)
			d.batch = append(d.batch, captureRec{m, off, len(d.bytes)})
		})
	}
	slices.SortStableFunc(d.batch, func(a, b captureRec) int {
		return int(min(max(a.m.Time-b.m.Time, -1), 1))
	})
	for _, r := range d.batch {
		if d.left == 0 {
			break
		}
		if int(r.m.Port) >= d.ports {
			continue // no such interface: cannot happen for a configured port
		}
		dir, comment := captureNotes(r.m)
		if err := d.ng.writePacket(int(r.m.Port), r.m.Time, d.bytes[r.off:r.end], r.m.Len, dir, comment); err != nil {
			return err
		}
		d.left--
		d.written++
	}
	return nil
}

// captureNotes is a record's direction on its port and its comment: a
// drop's reason name (dataplane.DropReason), or who handled the packet.
func captureNotes(m dataplane.CaptureMeta) (uint32, string) {
	switch m.Verdict {
	case dataplane.CaptureForwarded:
		return ngOutbound, ""
	case dataplane.CaptureToControl:
		return ngInbound, "to control core"
	case dataplane.CaptureDropped:
		if m.Reason == dataplane.DropTxFull {
			return ngOutbound, "drop: " + m.Reason.String()
		}
		return ngInbound, "drop: " + m.Reason.String()
	case dataplane.CaptureSent:
		return ngOutbound, "sent by control core"
	}
	return 0, ""
}
