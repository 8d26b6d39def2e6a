package control

import (
	"errors"
	"fmt"
	"net/http"

	"shim6d/control/admin"
	"shim6d/control/synth"
	"shim6d/dataplane"
)

// errSyntheticRefused answers a request for synthetic contexts on a daemon
// not configured for them: a million fake contexts would crowd out the
// site's real ones, so only a benchmark box takes them.
var errSyntheticRefused = errors.New("synthetic contexts are refused: this daemon's config does not set [daemon] allow_synthetic = true (set it only on a benchmark or lab box)")

// synthesize loads count contexts of the synthetic plan seeded with seed
// (control/synth), on the core's goroutine, as the table's single writer
// must; they leave by the uplink that holds the plan's local locators.
func (c *Core) synthesize(count, seed uint64) (int, error) {
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
	c.Query(func() {
		for i := uint64(0); i < count; i++ {
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
	if err != nil {
		return made, &admin.StatusError{Code: http.StatusInsufficientStorage, Err: fmt.Errorf("created %d, then: %w", made, err)}
	}
	return made, nil
}
