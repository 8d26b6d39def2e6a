package control

import (
	"shim6d/dataplane"
)

// AddContext creates a context in the fast-path table and indexes it for
// ICMPv6 error translation. Every context is created through here, on the
// core's goroutine (or before the core runs).
func (c *Core) AddContext(spec dataplane.ContextSpec) (uint32, uint64, error) {
	slot, tag, err := c.cfg.Contexts.Create(spec)
	if err == nil {
		c.reindexPeer(slot)
		c.replChanged(slot)
	}
	return slot, tag, err
}

// SetContextLocators switches a context's locator pair (RFC 5534
// exploration, RFC 5533 §10 updates).
func (c *Core) SetContextLocators(slot uint32, local, peer *[16]byte, egress uint16) error {
	if err := c.cfg.Contexts.SetLocators(slot, local, peer, egress); err != nil {
		return err
	}
	c.reindexPeer(slot)
	c.replChanged(slot)
	return nil
}

// DeleteContext removes a context.
func (c *Core) DeleteContext(slot uint32) error {
	var old dataplane.Context
	if !c.cfg.Contexts.Get(slot, &old) {
		return dataplane.ErrNoSuchSlot
	}
	if k, ok := c.peerKeys[slot]; ok {
		delete(c.peers, k)
		delete(c.peerKeys, slot)
	}
	c.replChanged(slot)
	return c.cfg.Contexts.Delete(slot)
}

// ContextCount is the number of contexts in the table (core's view).
func (c *Core) ContextCount() int {
	if c.cfg.Contexts == nil {
		return 0
	}
	return c.cfg.Contexts.Len()
}
