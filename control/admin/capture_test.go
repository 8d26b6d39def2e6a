package admin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// captureSource is a Source that captures: it writes body in two parts,
// or refuses with refuse before writing anything.
type captureSource struct {
	fakeSource
	req    CaptureRequest
	body   string
	refuse error
}

func (c *captureSource) Capture(ctx context.Context, req CaptureRequest, out io.Writer, flush func()) (CaptureResult, error) {
	c.req = req
	if c.refuse != nil {
		return CaptureResult{}, c.refuse
	}
	half := len(c.body) / 2
	io.WriteString(out, c.body[:half])
	flush()
	io.WriteString(out, c.body[half:])
	return CaptureResult{Packets: 7, Overflow: 2, End: CaptureEndSeconds}, nil
}

// The client gets the stream whole, the request's parameters reach the
// source, and the account comes back in the trailers.
func TestCaptureStreamsWithTrailers(t *testing.T) {
	src := &captureSource{body: "pcapng bytes, pretend"}
	cl := serve(t, src)
	var out bytes.Buffer
	res, err := cl.Capture(CaptureRequest{Port: "isp1", What: "drops", Count: 5, Seconds: 2.5, Snaplen: 128}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != src.body || res != (CaptureResult{Packets: 7, Overflow: 2, End: CaptureEndSeconds}) {
		t.Fatalf("got %q, %+v", out.String(), res)
	}
	if src.req != (CaptureRequest{Port: "isp1", What: "drops", Count: 5, Seconds: 2.5, Snaplen: 128}) {
		t.Fatalf("source asked for %+v", src.req)
	}
}

// A refusal keeps its status and sentence; a bad number never reaches
// the source; a source that cannot capture has no route.
func TestCaptureRefused(t *testing.T) {
	src := &captureSource{refuse: &StatusError{Code: http.StatusConflict, Err: errors.New("a capture is already running")}}
	cl := serve(t, src)
	if _, err := cl.Capture(CaptureRequest{}, io.Discard); err == nil || !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("refusal: %v", err)
	}
	h := Handler(src, nil)
	if rec := do(h, "POST", "/capture?count=many"); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "write a number") {
		t.Fatalf("bad count: %d %q", rec.Code, rec.Body)
	}
	if rec := do(Handler(&fakeSource{}, nil), "POST", "/capture"); rec.Code != http.StatusNotFound {
		t.Fatalf("a source without capture answers %d", rec.Code)
	}
}
