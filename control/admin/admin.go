// Package admin is the daemon's admin API: JSON over HTTP on a unix socket,
// served by shim6d and spoken by shim6ctl. A unix socket, not TCP, because
// file permissions are the access control operators already manage, and it
// cannot be reached from the network by mistake.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Status is GET /status.
type Status struct {
	Version   string    `json:"version"`
	Config    string    `json:"config"`
	Started   time.Time `json:"started"`
	UptimeSec float64   `json:"uptime_s"`
	Workers   int       `json:"workers"`
	Polling   string    `json:"polling"`
	Ports     int       `json:"ports"`
	Neighbors int       `json:"neighbors"`
	RingUsed  int       `json:"control_ring_used"`
	RingCap   int       `json:"control_ring_cap"`
	// Pools are the packet buffer pools' counts.
	Pools []Pool `json:"pools"`
}

// Pool is one element of Status.Pools: a packet buffer pool's free and
// taken buffers. In-use that keeps growing under steady traffic is a leak.
type Pool struct {
	Name      string `json:"name"`
	Available int    `json:"available"`
	InUse     int    `json:"in_use"`
}

// Port is one element of GET /ports.
type Port struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Device string `json:"device"`
	MAC    string `json:"mac"`
	// MTU is the device's; ForwardMTU the one forwarding uses: the
	// configured MTU, or the device's when that is smaller.
	MTU        int          `json:"mtu"`
	ForwardMTU int          `json:"forward_mtu"`
	LinkUp     bool         `json:"link_up"`
	SpeedMbps  uint32       `json:"speed_mbps"`
	Addresses  []netip.Addr `json:"addresses"`
	Prefix     string       `json:"prefix,omitempty"`
	NextHop    string       `json:"next_hop,omitempty"`
	// Device counters.
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxMissed  uint64 `json:"rx_missed"`
	RxErrors  uint64 `json:"rx_errors"`
	TxErrors  uint64 `json:"tx_errors"`
	// Drops is what the workers dropped of this port's received packets.
	Drops uint64 `json:"drops"`
}

// Worker is one element of Stats.Workers.
type Worker struct {
	ID        int    `json:"id"`
	Polls     uint64 `json:"polls"`
	IdlePolls uint64 `json:"idle_polls"`
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	ToControl uint64 `json:"to_control"`
	Rewritten uint64 `json:"rewritten"`
	Stripped  uint64 `json:"stripped"`
	Clamped   uint64 `json:"mss_clamped"`
	Events    uint64 `json:"events"`
	// SlowPath is how many received packets the fast paths left to the
	// general path.
	SlowPath uint64 `json:"slow_path"`
}

// Context is one element of GET /contexts.
type Context struct {
	Slot uint32 `json:"slot"`
	// State is the RFC 5533 §6.2 state, or STATIC for configured contexts.
	State        string     `json:"state"`
	LocalULID    netip.Addr `json:"local_ulid"`
	PeerULID     netip.Addr `json:"peer_ulid"`
	LocalLocator netip.Addr `json:"local_locator"`
	PeerLocator  netip.Addr `json:"peer_locator"`
	LocalTag     string     `json:"local_tag"`
	PeerTag      string     `json:"peer_tag"`
	Rewriting    bool       `json:"rewriting"`
	// LocalLocators and PeerLocators are the locator sets the signalling
	// knows (RFC 5533 §6.1 Ls(local), Ls(peer)); empty for static contexts.
	LocalLocators []netip.Addr `json:"local_locators,omitempty"`
	PeerLocators  []netip.Addr `json:"peer_locators,omitempty"`
	// PreferredLocal and PreferredPeer are the pair the site policy wants
	// the context on (priorities, weights, spreading); absent when no
	// pair qualifies or the context is static.
	PreferredLocal *netip.Addr `json:"preferred_local,omitempty"`
	PreferredPeer  *netip.Addr `json:"preferred_peer,omitempty"`
	Uplink         string      `json:"uplink"`
	// LastSentSec and LastRecvSec are how long ago a worker last saw a
	// packet of the context, -1 if never (REAP feedback, 0.1 s resolution).
	LastSentSec float64 `json:"last_sent_s"`
	LastRecvSec float64 `json:"last_recv_s"`
}

// Uplink is one element of GET /uplinks: an uplink's site policy (RFC 5533
// §5.15.3 Locator Preferences), its condition, and how many contexts use
// it now (the spread).
type Uplink struct {
	Name   string       `json:"name"`
	Prefix netip.Prefix `json:"prefix"`
	// Priority is as announced: lower preferred, 255 for a backup uplink.
	Priority uint8 `json:"priority"`
	Weight   uint8 `json:"weight"`
	Backup   bool  `json:"backup"`
	// Down: link down or next hop unreachable; Drained: drained by the
	// operator, its contexts moving off it while its locators are still
	// announced (flagged BROKEN), then Withdrawn too: no longer announced.
	Down      bool `json:"down"`
	Drained   bool `json:"drained"`
	Withdrawn bool `json:"withdrawn"`
	// Contexts counts the contexts whose current local locator is under
	// the uplink's prefix.
	Contexts int `json:"contexts"`
}

// Stats is GET /stats.
type Stats struct {
	Workers []Worker          `json:"workers"`
	Drops   map[string]uint64 `json:"drops"`
	Control map[string]uint64 `json:"control"`
}

// Neighbor is one element of GET /neighbors.
type Neighbor struct {
	Port    string     `json:"port"`
	Address netip.Addr `json:"address"`
	MAC     string     `json:"mac"`
	State   string     `json:"state"`
	AgeSec  float64    `json:"age_s"`
	Queued  int        `json:"queued"`
}

// UplinkPolicy is what POST /uplinks/{name} may change of an uplink at run
// time; nil fields stay as they are.
type UplinkPolicy struct {
	Priority *uint8
	Weight   *uint8
	Backup   *bool
	Drained  *bool
}

// StatusError is an error the API answers with Code rather than 409
// Conflict, the answer to a request the daemon's state refuses.
type StatusError struct {
	Code int
	Err  error
}

func (e *StatusError) Error() string { return e.Err.Error() }
func (e *StatusError) Unwrap() error { return e.Err }

// Source is what the daemon provides to the API. Its methods are called
// from the server's goroutines; those that change state take effect on
// the control core's goroutine.
type Source interface {
	Status() Status
	Ports() []Port
	Stats() Stats
	Neighbors() []Neighbor
	Contexts() []Context
	Uplinks() []Uplink
	// SetUplink changes an uplink's policy; peers hear it in Update
	// Requests, and the contexts it concerns move after a probe.
	SetUplink(name string, p UplinkPolicy) error
	// Establish starts a Shim6 context for a ULID pair (RFC 5533 §7).
	Establish(local, peer netip.Addr) error
	// Synthesize loads count synthetic contexts of the plan seeded with
	// seed, for benchmarks and capacity tests, and says how many it made.
	// A load of millions takes seconds to minutes: progress, if not nil,
	// is called on the caller's goroutine now and then with how many are
	// made so far.
	Synthesize(count, seed uint64, progress func(made int)) (int, error)
	// Reload reads the configuration file again and applies what can
	// change live. A key that needs a restart refuses the whole reload
	// (StatusError 409, with the one line that names it); a file that does
	// not load, 422.
	Reload() (Reload, error)
}

// Reload is the answer to POST /reload: what the reload changed, one
// line a key ("port[1].weight: 1 -> 3", "context[2] added (...)"); empty
// when the file changed nothing.
type Reload struct {
	Changed []string `json:"changed"`
}

// CaptureRequest is POST /capture's query: ?port=NAME&what=all|shim6|
// control|drops&count=N&seconds=S&snaplen=N, each optional (zero: the
// daemon's default).
type CaptureRequest struct {
	Port    string
	What    string
	Count   int
	Seconds float64
	Snaplen int
}

// How a capture ended (CaptureResult.End).
const (
	CaptureEndCount   = "count"   // it wrote its count of packets
	CaptureEndSeconds = "seconds" // its time was up
	CaptureEndReader  = "reader"  // its reader went away
	CaptureEndError   = "error"   // writing it failed
)

// CaptureResult is what a capture's answer ends with, in its trailers
// (CaptureTrailerPackets, CaptureTrailerOverflow, CaptureTrailerEnd).
type CaptureResult struct {
	// Packets is how many packets the file holds.
	Packets uint64 `json:"packets"`
	// Overflow is how many packets the capture selected that found a
	// ring full and are not in the file.
	Overflow uint64 `json:"overflow"`
	End      string `json:"end"`
}

// The trailers of POST /capture's answer.
const (
	CaptureTrailerPackets  = "Shim6d-Capture-Packets"
	CaptureTrailerOverflow = "Shim6d-Capture-Overflow"
	CaptureTrailerEnd      = "Shim6d-Capture-End"
)

// Capturer is a Source that can capture live traffic (POST /capture). It
// writes pcapng to out, calling flush as it goes, until the capture ends
// by itself or ctx ends; a refusal comes before anything is written.
type Capturer interface {
	Capture(ctx context.Context, req CaptureRequest, out io.Writer, flush func()) (CaptureResult, error)
}

// Server serves the API on a unix socket.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	path string
}

// Listen creates the socket (replacing a stale one) and starts serving
// src's API, and metrics on GET /metrics when it is not nil (so shim6ctl
// and the tests read it wherever the TCP listener is, or is not).
func Listen(path string, src Source, metrics http.Handler) (*Server, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("admin socket directory: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("admin socket %s: another shim6d is listening there; give this one its own admin_socket", path)
	}
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("admin socket: %w", err)
	}
	os.Chmod(path, 0o660)
	s := &Server{srv: &http.Server{Handler: Handler(src, metrics), ReadHeaderTimeout: 5 * time.Second}, ln: ln, path: path}
	go s.srv.Serve(ln)
	return s, nil
}

// Handler is the API's routes over src, as Listen serves them.
func Handler(src Source, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	handle := func(route string, f func() any) {
		mux.HandleFunc("GET "+route, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, f()) })
	}
	handle("/status", func() any { return src.Status() })
	handle("/ports", func() any { return src.Ports() })
	handle("/stats", func() any { return src.Stats() })
	handle("/neighbors", func() any { return src.Neighbors() })
	handle("/contexts", func() any { return src.Contexts() })
	handle("/uplinks", func() any { return src.Uplinks() })
	mux.HandleFunc("POST /uplinks/{name}", func(w http.ResponseWriter, r *http.Request) { setUplink(src, w, r) })
	mux.HandleFunc("POST /establish", func(w http.ResponseWriter, r *http.Request) { establish(src, w, r) })
	mux.HandleFunc("POST /contexts/synth", func(w http.ResponseWriter, r *http.Request) { synthesize(src, w, r) })
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		res, err := src.Reload()
		if err != nil {
			fail(w, err)
			return
		}
		if res.Changed == nil {
			res.Changed = []string{} // [] rather than null
		}
		writeJSON(w, res)
	})
	if hs, ok := src.(HASource); ok {
		haRoutes(mux, hs)
	}
	if cp, ok := src.(Capturer); ok {
		mux.HandleFunc("POST /capture", func(w http.ResponseWriter, r *http.Request) { capture(cp, w, r) })
	}
	if metrics != nil {
		mux.Handle("GET /metrics", metrics)
	}
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// fail answers err with its StatusError code, or 409 Conflict.
func fail(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), statusOf(err))
}

// statusOf is err's StatusError code, or 409 Conflict.
func statusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return http.StatusConflict
}

// setUplink changes an uplink's policy at run time:
// POST /uplinks/{name}?priority=N&weight=N&backup=BOOL&drained=BOOL, any
// of them; the answer is GET /uplinks after the change.
func setUplink(src Source, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var p UplinkPolicy
	for _, f := range []struct {
		key string
		set func(string) error
	}{
		{"priority", func(v string) error {
			n, err := strconv.ParseUint(v, 10, 8)
			x := uint8(n)
			p.Priority = &x
			return err
		}},
		{"weight", func(v string) error { n, err := strconv.ParseUint(v, 10, 8); x := uint8(n); p.Weight = &x; return err }},
		{"backup", func(v string) error { b, err := strconv.ParseBool(v); p.Backup = &b; return err }},
		{"drained", func(v string) error { b, err := strconv.ParseBool(v); p.Drained = &b; return err }},
	} {
		if v := q.Get(f.key); v != "" {
			if err := f.set(v); err != nil {
				http.Error(w, fmt.Sprintf("%s=%q: want a number 0..255 for priority and weight, true or false for backup and drained", f.key, v), http.StatusBadRequest)
				return
			}
		}
	}
	if err := src.SetUplink(r.PathValue("name"), p); err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, src.Uplinks())
}

// establish starts a Shim6 context for a ULID pair (RFC 5533 §7):
// POST /establish?local=ULID&peer=ULID.
func establish(src Source, w http.ResponseWriter, r *http.Request) {
	local, err1 := netip.ParseAddr(r.URL.Query().Get("local"))
	peer, err2 := netip.ParseAddr(r.URL.Query().Get("peer"))
	if err1 != nil || err2 != nil {
		http.Error(w, "want ?local=ULID&peer=ULID (IPv6 addresses)", http.StatusBadRequest)
		return
	}
	if err := src.Establish(local, peer); err != nil {
		fail(w, err)
		return
	}
	fmt.Fprintf(w, "{\"establishing\": [%q, %q]}\n", local, peer)
}

// SynthProgress is a line of POST /contexts/synth?progress=1's answer:
// newline-delimited JSON, one line while the load goes on every quarter
// second or so, then a last one with Created (and Error when the load
// stopped short).
type SynthProgress struct {
	Made       int     `json:"made"`
	Count      uint64  `json:"count"`
	ElapsedSec float64 `json:"elapsed_s"`
	// Created is on the last line only: how many the load made.
	Created *int `json:"created,omitempty"`
	// Error and Code, on the last line, say why the load stopped short,
	// as the status code and body would have without progress.
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

// synthesize loads synthetic contexts for benchmarks and capacity tests:
// POST /contexts/synth?count=N&seed=S answers {"created": N} when done.
// With &progress=1 it answers SynthProgress lines as it goes, so a client
// of a load that takes minutes sees it advance. A refusal that comes
// before the first line (no permission, the table full from the start)
// keeps its status code either way.
func synthesize(src Source, w http.ResponseWriter, r *http.Request) {
	seed := uint64(1)
	q := r.URL.Query()
	count, err := strconv.ParseUint(q.Get("count"), 10, 32)
	if s := q.Get("seed"); err == nil && s != "" {
		seed, err = strconv.ParseUint(s, 10, 64)
	}
	stream := false
	if s := q.Get("progress"); err == nil && s != "" {
		stream, err = strconv.ParseBool(s)
	}
	if err != nil {
		http.Error(w, "want ?count=N[&seed=S][&progress=BOOL] with whole numbers", http.StatusBadRequest)
		return
	}
	start := time.Now()
	var enc *json.Encoder
	var progress func(int)
	if stream {
		progress = func(made int) {
			if enc == nil {
				w.Header().Set("Content-Type", "application/x-ndjson")
				enc = json.NewEncoder(w)
			}
			enc.Encode(SynthProgress{Made: made, Count: count, ElapsedSec: time.Since(start).Seconds()})
			http.NewResponseController(w).Flush()
		}
	}
	made, err := src.Synthesize(count, seed, progress)
	if enc != nil {
		last := SynthProgress{Made: made, Count: count, ElapsedSec: time.Since(start).Seconds(), Created: &made}
		if err != nil {
			last.Error, last.Code = err.Error(), statusOf(err)
		}
		enc.Encode(last)
		return
	}
	if err != nil {
		fail(w, err)
		return
	}
	if stream {
		w.Header().Set("Content-Type", "application/x-ndjson")
		json.NewEncoder(w).Encode(SynthProgress{Made: made, Count: count, ElapsedSec: time.Since(start).Seconds(), Created: &made})
		return
	}
	fmt.Fprintf(w, "{\"created\": %d}\n", made)
}

// capture streams a live capture as pcapng: POST /capture (see
// CaptureRequest). The answer's status is decided before the first byte:
// 400 for a bad request, 409 while another capture runs; after it, the
// file streams and the trailers say how many packets it holds, how many
// were lost to full rings, and why it ended.
func capture(cp Capturer, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := CaptureRequest{Port: q.Get("port"), What: q.Get("what")}
	var err error
	num := func(key string, set func(string) error) {
		if v := q.Get(key); err == nil && v != "" {
			if e := set(v); e != nil {
				err = fmt.Errorf("%s=%q: write a number", key, v)
			}
		}
	}
	num("count", func(v string) (e error) { req.Count, e = strconv.Atoi(v); return })
	num("seconds", func(v string) (e error) { req.Seconds, e = strconv.ParseFloat(v, 64); return })
	num("snaplen", func(v string) (e error) { req.Snaplen, e = strconv.Atoi(v); return })
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out := &startWriter{w: w}
	rc := http.NewResponseController(w)
	res, err := cp.Capture(r.Context(), req, out, func() { rc.Flush() })
	if err != nil && !out.started {
		fail(w, err)
		return
	}
	w.Header().Set(CaptureTrailerPackets, strconv.FormatUint(res.Packets, 10))
	w.Header().Set(CaptureTrailerOverflow, strconv.FormatUint(res.Overflow, 10))
	w.Header().Set(CaptureTrailerEnd, res.End)
}

// startWriter sets a capture's headers, trailers announced, at its first
// write, and remembers that it has written.
type startWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *startWriter) Write(p []byte) (int, error) {
	if !s.started {
		s.started = true
		h := s.w.Header()
		h.Set("Content-Type", "application/x-pcapng")
		h.Set("Trailer", CaptureTrailerPackets+", "+CaptureTrailerOverflow+", "+CaptureTrailerEnd)
		s.w.WriteHeader(http.StatusOK)
	}
	return s.w.Write(p)
}

// Close stops serving and removes the socket.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	os.Remove(s.path)
	return err
}

// Client talks to a daemon's admin socket.
type Client struct {
	hc   *http.Client
	path string
}

// NewClient makes a client for the socket at path.
func NewClient(path string) *Client {
	return &Client{path: path, hc: &http.Client{
		// Every answer but a load's (see Synthesize) takes
		// milliseconds; the core answers between a load's parts.
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}
}

// Get fetches route and decodes the JSON answer into v.
func (c *Client) Get(route string, v any) error {
	body, err := c.GetRaw(route)
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

// GetRaw fetches route and returns the body as it came (for /metrics).
func (c *Client) GetRaw(route string) ([]byte, error) { return c.do(http.MethodGet, route) }

// Post sends a POST to route and returns the answer's body.
func (c *Client) Post(route string) ([]byte, error) { return c.do(http.MethodPost, route) }

// idleTimeout is how long Synthesize waits for the next line of a load's
// progress (the daemon sends one every quarter second) before it gives
// up on the daemon: a stall, not the length of the load, is the failure.
const idleTimeout = 30 * time.Second

// Synthesize asks the daemon for count synthetic contexts of the plan
// seeded with seed and waits for the load to end, however long it takes,
// calling progress (if not nil) with each progress line. It returns how
// many the daemon made.
func (c *Client) Synthesize(count, seed uint64, progress func(SynthProgress)) (int, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	idle := time.AfterFunc(idleTimeout, cancel)
	defer idle.Stop()
	route := fmt.Sprintf("/contexts/synth?count=%d&seed=%d&progress=1", count, seed)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://shim6d"+route, nil)
	if err != nil {
		return 0, err
	}
	// The client's own Timeout covers the whole answer; this one may
	// last minutes, so its bound is idle.
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return 0, c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("shim6d answered %s: %s", resp.Status, body)
	}
	dec := json.NewDecoder(resp.Body)
	for {
		idle.Reset(idleTimeout)
		var p SynthProgress
		if err := dec.Decode(&p); err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("no word for %v", idleTimeout)
			}
			return 0, fmt.Errorf("shim6d's answer to the load broke off: %w", err)
		}
		if progress != nil {
			progress(p)
		}
		if p.Created == nil {
			continue
		}
		if p.Error != "" {
			return *p.Created, fmt.Errorf("shim6d answered %d %s: %s", p.Code, http.StatusText(p.Code), p.Error)
		}
		return *p.Created, nil
	}
}

// Capture runs a live capture on the daemon and copies the pcapng it
// streams to out until the capture ends by itself (at its count or
// seconds). It returns the daemon's account from the answer's trailers.
func (c *Client) Capture(req CaptureRequest, out io.Writer) (CaptureResult, error) {
	var res CaptureResult
	q := url.Values{}
	for k, v := range map[string]string{"port": req.Port, "what": req.What} {
		if v != "" {
			q.Set(k, v)
		}
	}
	for k, v := range map[string]int{"count": req.Count, "snaplen": req.Snaplen} {
		if v != 0 {
			q.Set(k, strconv.Itoa(v))
		}
	}
	if req.Seconds != 0 {
		q.Set("seconds", strconv.FormatFloat(req.Seconds, 'g', -1, 64))
	}
	// The daemon ends a capture by itself, within CaptureMaxDuration;
	// this bound only catches a daemon that stopped answering.
	hc := *c.hc
	hc.Timeout = CaptureMaxDuration + idleTimeout
	resp, err := hc.Post("http://shim6d/capture?"+q.Encode(), "", nil)
	if err != nil {
		return res, c.unreachable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return res, fmt.Errorf("shim6d answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		return res, fmt.Errorf("the capture broke off: %w", err)
	}
	res.Packets, _ = strconv.ParseUint(resp.Trailer.Get(CaptureTrailerPackets), 10, 64)
	res.Overflow, _ = strconv.ParseUint(resp.Trailer.Get(CaptureTrailerOverflow), 10, 64)
	res.End = resp.Trailer.Get(CaptureTrailerEnd)
	if res.End == "" {
		return res, errors.New("the capture's answer ended without its account (the daemon stopped?)")
	}
	return res, nil
}

// CaptureMaxDuration is the longest capture a daemon runs; the client
// waits that long for one to end.
const CaptureMaxDuration = 300 * time.Second

// unreachable is the error for a request that got no answer.
func (c *Client) unreachable(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("shim6d at %s took longer than %v to answer: %w", c.path, c.hc.Timeout, err)
	}
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	return fmt.Errorf("cannot reach shim6d at %s (is it running? is --socket right?): %w", c.path, err)
}

// do makes one request and turns transport failures and non-200 answers
// into errors an operator can act on.
func (c *Client) do(method, route string) ([]byte, error) {
	req, err := http.NewRequest(method, "http://shim6d"+route, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.unreachable(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		// A StatusError, so that a caller can tell the daemon's refusals
		// apart by code (shim6ctl reload exits 2 on 409 and 422).
		err = &StatusError{Code: resp.StatusCode, Err: fmt.Errorf("shim6d answered %s: %s", resp.Status, body)}
	}
	return body, err
}
