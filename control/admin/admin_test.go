package admin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// fakeSource records what the handlers asked of it.
type fakeSource struct {
	uplink  string
	policy  UplinkPolicy
	synth   [2]uint64
	refuse  error
	est     [2]netip.Addr
	listing []Uplink
	// fullAt, when not 0, is where Synthesize finds the table full.
	fullAt uint64
}

func (f *fakeSource) Status() Status        { return Status{Version: "test"} }
func (f *fakeSource) Ports() []Port         { return nil }
func (f *fakeSource) Stats() Stats          { return Stats{} }
func (f *fakeSource) Neighbors() []Neighbor { return nil }
func (f *fakeSource) Contexts() []Context   { return nil }
func (f *fakeSource) Uplinks() []Uplink     { return f.listing }
func (f *fakeSource) Establish(l, p netip.Addr) error {
	f.est = [2]netip.Addr{l, p}
	return f.refuse
}
func (f *fakeSource) SetUplink(name string, p UplinkPolicy) error {
	f.uplink, f.policy = name, p
	return f.refuse
}
func (f *fakeSource) Synthesize(count, seed uint64, progress func(int)) (int, error) {
	f.synth = [2]uint64{count, seed}
	if f.refuse != nil {
		return 0, f.refuse
	}
	if progress != nil {
		for made := 1; made < int(count); made *= 2 {
			progress(made)
		}
	}
	if f.fullAt > 0 && count > f.fullAt {
		return int(f.fullAt), &StatusError{Code: http.StatusInsufficientStorage, Err: errors.New("context table full")}
	}
	return int(count), nil
}

func (f *fakeSource) Reload() (Reload, error) {
	if f.refuse != nil {
		return Reload{}, f.refuse
	}
	return Reload{Changed: []string{"port[1].weight: 1 -> 3"}}, nil
}

func do(h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func TestHandlerRoutes(t *testing.T) {
	src := &fakeSource{listing: []Uplink{{Name: "isp1"}}}
	h := Handler(src, nil)
	for _, tc := range []struct {
		method, target string
		code           int
		body           string
	}{
		{"GET", "/status", 200, `"version": "test"`},
		{"GET", "/uplinks", 200, `"name": "isp1"`},
		{"POST", "/uplinks/isp1?priority=3&drained=true", 200, `"name": "isp1"`},
		{"POST", "/uplinks/isp1?priority=300", 400, "want a number 0..255"},
		{"POST", "/uplinks/isp1?backup=maybe", 400, "true or false"},
		{"POST", "/establish?local=2001:db8:1::1&peer=2001:db8:2::1", 200, `"establishing"`},
		{"POST", "/establish?local=nope", 400, "want ?local=ULID&peer=ULID"},
		{"POST", "/contexts/synth?count=5&seed=9", 200, `{"created": 5}`},
		{"POST", "/contexts/synth?count=-1", 400, "whole numbers"},
		{"GET", "/metrics", 404, ""},
		{"POST", "/reload", 200, `"port[1].weight: 1 -\u003e 3"`},
		{"GET", "/reload", 405, ""},
	} {
		rec := do(h, tc.method, tc.target)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.target, rec.Code, rec.Body, tc.code, tc.body)
		}
	}
	if src.uplink != "isp1" || src.policy.Priority == nil || *src.policy.Priority != 3 ||
		src.policy.Drained == nil || !*src.policy.Drained || src.policy.Weight != nil || src.policy.Backup != nil {
		t.Errorf("SetUplink got %q %+v", src.uplink, src.policy)
	}
	if src.synth != [2]uint64{5, 9} {
		t.Errorf("Synthesize got %v", src.synth)
	}
	if src.est[1] != netip.MustParseAddr("2001:db8:2::1") {
		t.Errorf("Establish got %v", src.est)
	}
}

// A StatusError keeps its code; any other refusal is 409 Conflict.
func TestHandlerRefusals(t *testing.T) {
	src := &fakeSource{refuse: &StatusError{Code: http.StatusForbidden, Err: errors.New("not here")}}
	h := Handler(src, nil)
	if rec := do(h, "POST", "/contexts/synth?count=1"); rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "not here") {
		t.Errorf("refused synth: %d %q", rec.Code, rec.Body)
	}
	src.refuse = errors.New("no such uplink")
	if rec := do(h, "POST", "/uplinks/x?weight=1"); rec.Code != http.StatusConflict {
		t.Errorf("refused uplink change: %d %q", rec.Code, rec.Body)
	}
	line := `site.toml:12: port[1].device: changed from "a" to "b" on [[port]] "isp1": restart shim6d to apply`
	src.refuse = &StatusError{Code: http.StatusConflict, Err: errors.New(line)}
	if rec := do(h, "POST", "/reload"); rec.Code != http.StatusConflict || rec.Body.String() != line+"\n" {
		t.Errorf("refused reload: %d %q", rec.Code, rec.Body)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("shim6d_up 1\n")) })
	if rec := do(Handler(src, metrics), "GET", "/metrics"); rec.Code != http.StatusOK || rec.Body.String() != "shim6d_up 1\n" {
		t.Errorf("metrics handler not mounted: %d %q", rec.Code, rec.Body)
	}
}

// serve runs Handler(src) on a unix socket in a test directory and returns
// a client of it.
func serve(t *testing.T, src Source) *Client {
	t.Helper()
	path := t.TempDir() + "/admin.sock"
	s, err := Listen(path, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return NewClient(path)
}

// A load with progress answers a line for each of the source's reports,
// in order, then the count made; one that fills the table says so on its
// last line, with 507; a refusal before any progress keeps its code.
func TestSynthesizeProgress(t *testing.T) {
	src := &fakeSource{}
	cl := serve(t, src)
	var seen []int
	made, err := cl.Synthesize(100, 3, func(p SynthProgress) {
		if p.Created == nil {
			seen = append(seen, p.Made)
		}
		if p.Count != 100 {
			t.Errorf("progress line counts to %d, want 100", p.Count)
		}
	})
	if made != 100 || err != nil || src.synth != [2]uint64{100, 3} {
		t.Fatalf("made %d, err %v, source asked for %v", made, err, src.synth)
	}
	if want := []int{1, 2, 4, 8, 16, 32, 64}; !slices.Equal(seen, want) {
		t.Errorf("progress %v, want %v", seen, want)
	}

	src.fullAt = 40
	made, err = cl.Synthesize(100, 1, nil)
	if made != 40 || err == nil || !strings.Contains(err.Error(), "507") || !strings.Contains(err.Error(), "context table full") {
		t.Errorf("over capacity: made %d, err %v", made, err)
	}

	src.refuse = &StatusError{Code: http.StatusForbidden, Err: errors.New("not here")}
	made, err = cl.Synthesize(10, 1, nil)
	if made != 0 || err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "not here") {
		t.Errorf("refused: made %d, err %v", made, err)
	}
}

// The answer with progress is newline-delimited JSON ending in the count;
// without progress it stays the one object it was.
func TestSynthesizeProgressLines(t *testing.T) {
	h := Handler(&fakeSource{}, nil)
	rec := do(h, "POST", "/contexts/synth?count=5&progress=1")
	lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
	if rec.Code != 200 || len(lines) != 4 || !strings.Contains(lines[0], `"made":1`) || !strings.Contains(lines[3], `"created":5`) {
		t.Errorf("with progress: %d %q", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("with progress: Content-Type %q", ct)
	}
	if rec := do(h, "POST", "/contexts/synth?count=5&progress=maybe"); rec.Code != 400 {
		t.Errorf("progress=maybe: %d %q", rec.Code, rec.Body)
	}
}
