package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shim6d/control/admin"
)

// capturer is an admin source that only captures: it writes "PCAPNG",
// or refuses with refuse.
type capturer struct {
	admin.Source
	refuse error
	req    admin.CaptureRequest
}

func (c *capturer) Capture(_ context.Context, req admin.CaptureRequest, out io.Writer, flush func()) (admin.CaptureResult, error) {
	c.req = req
	if c.refuse != nil {
		return admin.CaptureResult{}, c.refuse
	}
	io.WriteString(out, "PCAPNG")
	return admin.CaptureResult{Packets: 3, Overflow: 1, End: admin.CaptureEndCount}, nil
}

func serveCapturer(t *testing.T, c *capturer) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "admin.sock")
	s, err := admin.Listen(path, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return path
}

// shim6ctl capture writes the stream to -w FILE and says what it holds;
// a refused capture says why and leaves no file.
func TestCaptureCommand(t *testing.T) {
	c := &capturer{}
	sock := serveCapturer(t, c)
	file := filepath.Join(t.TempDir(), "c.pcapng")
	var out strings.Builder
	err := captureCmd([]string{"--socket", sock, "--port", "isp1", "--what", "shim6", "--count", "3", "--seconds", "2", "-w", file}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) != "PCAPNG" {
		t.Fatalf("file holds %q", b)
	}
	if c.req != (admin.CaptureRequest{Port: "isp1", What: "shim6", Count: 3, Seconds: 2}) {
		t.Fatalf("daemon asked for %+v", c.req)
	}
	if got := out.String(); !strings.Contains(got, "3 packets to "+file+" (ended by count)") || !strings.Contains(got, "1 more matched but found the capture ring full") {
		t.Fatalf("report %q", got)
	}

	c.refuse = &admin.StatusError{Code: http.StatusConflict, Err: errors.New("a capture is already running")}
	gone := filepath.Join(t.TempDir(), "refused.pcapng")
	err = captureCmd([]string{"--socket", sock, "-w", gone}, &out)
	if err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("refusal: %v", err)
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Fatal("a refused capture left a file")
	}
	if err := captureCmd([]string{"--socket", sock}, io.Discard); err == nil || !strings.Contains(err.Error(), "-w FILE") {
		t.Fatalf("no -w: %v", err)
	}
}
