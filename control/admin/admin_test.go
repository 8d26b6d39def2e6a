package admin

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
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
func (f *fakeSource) Synthesize(count, seed uint64) (int, error) {
	f.synth = [2]uint64{count, seed}
	if f.refuse != nil {
		return 0, f.refuse
	}
	return int(count), nil
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
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("shim6d_up 1\n")) })
	if rec := do(Handler(src, metrics), "GET", "/metrics"); rec.Code != http.StatusOK || rec.Body.String() != "shim6d_up 1\n" {
		t.Errorf("metrics handler not mounted: %d %q", rec.Code, rec.Body)
	}
}
