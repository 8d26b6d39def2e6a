// Command tcpcheck moves a deterministic byte stream over one TCP connection
// and verifies every byte at the receiver, so the lab can tell "the transfer
// finished" from "the transfer finished intact". The stream is a keyed
// pseudo-random sequence, so a duplicated, lost or reordered segment that
// TCP somehow let through shows up as a mismatch at its offset.
//
//	tcpcheck serve -listen [::]:5001 -bytes N     # prints a JSON result, exits 0 when all N bytes match
//	tcpcheck send  -to [2001:db8::1]:5001 -bytes N [-progress 1s]
package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// stream generates the byte sequence: xorshift64* over 8-byte words, with
// the word index folded in so every offset has a distinct expected value.
type stream struct{ s uint64 }

func (g *stream) fill(b []byte, off int64) {
	// Callers keep off a multiple of 8 and len(b) too, except at the end.
	for i := 0; i < len(b); i += 8 {
		g.s ^= g.s << 13
		g.s ^= g.s >> 7
		g.s ^= g.s << 17
		v := g.s*0x2545F4914F6CDD1D ^ uint64(off+int64(i))
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], v)
		copy(b[i:], w[:])
	}
}

const seed = 0x5117_6d00_cafe_f00d
const chunk = 64 << 10

// Result is what serve prints.
type Result struct {
	Bytes       int64   `json:"bytes"`
	Verified    bool    `json:"verified"`
	MismatchAt  int64   `json:"mismatch_at"`
	Seconds     float64 `json:"seconds"`
	Mbps        float64 `json:"mbps"`
	MaxStallMS  float64 `json:"max_stall_ms"`
	Error       string  `json:"error,omitempty"`
	RemoteAddr  string  `json:"remote"`
	Connections int     `json:"connections"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tcpcheck serve|send [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "[::]:5001", "address to listen on (serve)")
	to := fs.String("to", "", "address to connect to (send)")
	n := fs.Int64("bytes", 100<<20, "bytes to transfer")
	timeout := fs.Duration("timeout", 120*time.Second, "give up after this long")
	from := fs.String("from", "", "local address to send from (send)")
	rate := fs.Float64("mbps", 0, "pace the sender to this many Mbit/s; 0: as fast as TCP goes (send)")
	fs.Parse(os.Args[2:])
	switch os.Args[1] {
	case "serve":
		r := serve(*listen, *n, *timeout)
		json.NewEncoder(os.Stdout).Encode(r)
		if !r.Verified {
			os.Exit(1)
		}
	case "send":
		if err := send(*to, *from, *n, *rate, *timeout); err != nil {
			fmt.Fprintln(os.Stderr, "tcpcheck send:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "usage: tcpcheck serve|send [flags]")
		os.Exit(2)
	}
}

func serve(addr string, n int64, timeout time.Duration) Result {
	var r Result
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer ln.Close()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(timeout))
	c, err := ln.Accept()
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer c.Close()
	r.Connections = 1
	r.RemoteAddr = c.RemoteAddr().String()
	c.SetDeadline(time.Now().Add(timeout))
	g := stream{seed}
	buf := make([]byte, chunk)
	want := make([]byte, chunk)
	start := time.Now()
	last := start
	r.MismatchAt = -1
	for r.Bytes < n {
		// Read exactly what the generator will produce next, so the
		// comparison stays aligned to its 8-byte words.
		k := int(min(int64(chunk), n-r.Bytes))
		if _, err := io.ReadFull(c, buf[:k]); err != nil {
			r.Error = err.Error()
			break
		}
		now := time.Now()
		r.MaxStallMS = max(r.MaxStallMS, float64(now.Sub(last).Microseconds())/1000)
		last = now
		g.fill(want[:k], r.Bytes)
		for i := 0; i < k; i++ {
			if buf[i] != want[i] {
				r.MismatchAt = r.Bytes + int64(i)
				r.Error = "stream mismatch"
				break
			}
		}
		if r.MismatchAt >= 0 {
			break
		}
		r.Bytes += int64(k)
	}
	r.Seconds = time.Since(start).Seconds()
	if r.Seconds > 0 {
		r.Mbps = float64(r.Bytes) * 8 / r.Seconds / 1e6
	}
	r.Verified = r.Bytes == n && r.MismatchAt < 0 && r.Error == ""
	// A second connection would mean the sender reconnected: a failover
	// that TCP did not survive. Report it instead of hiding it.
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	if c2, err := ln.Accept(); err == nil {
		r.Connections++
		c2.Close()
		r.Verified = false
	}
	return r
}

func send(addr, from string, n int64, mbps float64, timeout time.Duration) error {
	if addr == "" {
		return errors.New("-to is required")
	}
	// Long enough for the SYN Linux retransmits at +15 s: in the initial
	// failure lab the context can come up just after the one at +7 s (the
	// I1 retransmitted from the other locator after 4 s), and a 10 s limit
	// turned that race into a flaky failure.
	d := net.Dialer{Timeout: min(timeout, 30*time.Second)}
	if from != "" {
		ip := net.ParseIP(from)
		if ip == nil {
			return fmt.Errorf("-from %q is not an IP address", from)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	g := stream{seed}
	buf := make([]byte, chunk)
	start := time.Now()
	for off := int64(0); off < n; {
		k := int(min(int64(chunk), n-off))
		g.fill(buf[:k], off)
		if _, err := c.Write(buf[:k]); err != nil {
			return fmt.Errorf("after %d bytes: %w", off, err)
		}
		off += int64(k)
		if mbps > 0 {
			// Pacing, so a lab can cut a path in the middle of a transfer.
			due := start.Add(time.Duration(float64(off*8) / (mbps * 1e6) * float64(time.Second)))
			time.Sleep(time.Until(due))
		}
	}
	return c.(*net.TCPConn).CloseWrite()
}
