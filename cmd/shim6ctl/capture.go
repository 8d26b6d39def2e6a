package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"shim6d/control/admin"
)

func init() {
	register("capture", "capture live traffic of a running daemon to a pcapng file", captureCmd)
}

// captureCmd runs a live capture on the daemon (POST /capture) and writes
// the pcapng it streams to -w FILE, or to stdout with -w -. The daemon
// ends the capture by itself, at --count or --seconds.
func captureCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
	port := fs.String("port", "", "capture on this port only (its name in the config); default every port")
	count := fs.Int("count", 1000, "stop after this many packets (at most 1000000)")
	seconds := fs.Float64("seconds", 10, "stop after this many seconds (at most 300)")
	what := fs.String("what", "all", "all, shim6 (Shim6 messages and payload packets), control (to and from the control core) or drops")
	snaplen := fs.Int("snaplen", 0, "bytes kept of each packet, 64 to 9216 (default the daemon's, 1600)")
	file := fs.String("w", "", "write the pcapng to `FILE` (- for stdout)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shim6ctl capture [--port NAME] [--count N] [--seconds S] [--what all|shim6|control|drops] -w FILE.pcapng")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *file == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("write -w FILE.pcapng (or -w - for stdout), and no arguments after the flags")
	}
	req := admin.CaptureRequest{Port: *port, What: *what, Count: *count, Seconds: *seconds, Snaplen: *snaplen}
	dst, report := io.Writer(&lazyFile{path: *file}), out
	if *file == "-" {
		dst, report = out, os.Stderr
	}
	res, err := admin.NewClient(*sock).Capture(req, dst)
	if f, ok := dst.(*lazyFile); ok {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return err
	}
	where := *file
	if where == "-" {
		where = "stdout"
	}
	fmt.Fprintf(report, "%d packets to %s (ended by %s)", res.Packets, where, res.End)
	if res.Overflow > 0 {
		fmt.Fprintf(report, "; %d more matched but found the capture ring full: narrow --what or --port", res.Overflow)
	}
	fmt.Fprintln(report)
	return nil
}

// lazyFile creates its file at the first write, so that a capture the
// daemon refuses leaves no empty file behind.
type lazyFile struct {
	path string
	f    *os.File
}

func (l *lazyFile) Write(p []byte) (int, error) {
	if l.f == nil {
		f, err := os.Create(l.path)
		if err != nil {
			return 0, err
		}
		l.f = f
	}
	return l.f.Write(p)
}

// Close closes the file if it was created.
func (l *lazyFile) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}
