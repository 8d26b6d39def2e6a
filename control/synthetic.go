package control

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"shim6d/control/admin"
	"shim6d/control/synth"
	"shim6d/dataplane"
)

// errSyntheticRefused answers a request for synthetic contexts on a daemon
// not configured for them: a million fake contexts would crowd out the
// site's real ones, so only a benchmark box takes them.
var errSyntheticRefused = errors.New("synthetic contexts are refused: this daemon's config does not set [daemon] allow_synthetic = true (set it only on a benchmark or lab box)")

// A load runs in parts, each one Query of at most synthPart contexts or
// synthPartTime, whichever comes first: between them the core runs ND, the
// signalling and REAP, and the admin API and metrics get their answers.
// One Query for the whole load held the core for minutes at ten million
// contexts. 20 ms is what the core may stop for without ND or REAP timers
// noticing (their resolution is TickPeriod and up); the count bound keeps
// the clock reads rare on a fast box.
const (
	synthPart     = 16384
	synthPartTime = 20 * time.Millisecond
	// synthClockEvery is how many contexts go between clock reads.
	synthClockEvery = 256
)

// synthProgressEvery is how often a load reports its progress.
const synthProgressEvery = 250 * time.Millisecond

// synthesize loads count contexts of the synthetic plan seeded with seed
// (control/synth), on the core's goroutine, as the table's single writer
// must, in parts (see synthPart); they leave by the uplink that holds the
// plan's local locators. progress, if not nil, hears how many are made
// every synthProgressEvery, on the caller's goroutine.
func (c *Core) synthesize(count, seed uint64, progress func(made int)) (int, error) {
	plan := synth.DefaultPlan
	plan.Seed = seed
	egress := c.policy.UplinkOf(plan.At(0).LocalLocator)
	if egress < 0 {
		return 0, fmt.Errorf("no uplink holds the synthetic local locators %s", plan.LocalLocators)
	}
	if c.cfg.Contexts == nil {
		return 0, errors.New("the shim is off: no context table")
	}
	made := 0
	var err error
	lastReport := time.Now()
	for i := uint64(0); i < count && err == nil; {
		c.Query(func() {
			start := time.Now()
			end := min(count, i+synthPart)
			for ; i < end; i++ {
				if i%synthClockEvery == 0 && time.Since(start) > synthPartTime {
					return
				}
				x := plan.At(i)
				_, _, err = c.AddContext(dataplane.ContextSpec{
					PeerTag: x.PeerTag, EgressPort: uint16(egress),
					ULIDLocal: x.LocalULID.As16(), ULIDPeer: x.PeerULID.As16(),
					LocLocal: x.LocalLocator.As16(), LocPeer: x.PeerLocator.As16(),
				})
				if err != nil {
					return
				}
				made++
			}
		})
		if progress != nil && err == nil && i < count && time.Since(lastReport) >= synthProgressEvery {
			lastReport = time.Now()
			progress(made)
		}
	}
	if err != nil {
		return made, &admin.StatusError{Code: http.StatusInsufficientStorage, Err: fmt.Errorf("created %d, then: %w", made, err)}
	}
	return made, nil
}
