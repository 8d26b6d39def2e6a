package control

import (
	"shim6d/configs"
	"shim6d/control/ha"
	"shim6d/dataplane"
)

// FromConfig is the part of a core's Config that a configuration file
// says: the ports' roles and addresses, static neighbours and contexts, the
// ICMPv6 and ND settings, the deferred-establishment and site policies,
// and the signalling with its hosts' HBA/CGA sets. The caller adds what the
// daemon builds: ports, ring, tables, workers, clock and log.
func FromConfig(cfg *configs.Config) (Config, error) {
	c := Config{
		ICMPRate: cfg.Daemon.ICMPRateLimit, Reachable: cfg.Daemon.NeighborTimeout.Duration,
		EstablishPeers: cfg.Shim.EstablishPeers, EstablishRate: cfg.Shim.EstablishRate,
		Failback: cfg.Shim.Failback, FailbackHold: cfg.Shim.FailbackHold.Duration,
		Spread:         cfg.Shim.Spread,
		AllowSynthetic: cfg.Daemon.AllowSynthetic,
		Daemon:         DaemonInfo{Config: cfg.Source, Polling: string(cfg.Daemon.Polling)},
		File:           cfg,
	}
	for i := range cfg.Ports {
		pc := &cfg.Ports[i]
		s := PortSetup{Name: pc.Name, Device: pc.Device, Addresses: pc.Addresses, MTU: pc.MTU, VirtualMAC: [6]byte(pc.VirtualMAC)}
		if pc.Role == configs.RoleInside {
			s.Role = dataplane.RoleInside
			s.Prefixes = pc.Prefixes
		} else {
			s.Role = dataplane.RoleUplink
			s.Prefix, s.NextHop = pc.Prefix, pc.NextHop
			s.Priority, s.Weight, s.Backup = uint8(pc.Priority), uint8(pc.Weight), pc.Backup
			if pc.NextHopMAC != (configs.MAC{}) {
				m := [6]byte(pc.NextHopMAC)
				s.NextHopMAC = &m
			}
		}
		c.Setup = append(c.Setup, s)
	}
	if h := &cfg.HA; h.Enabled {
		c.HA = &HASetup{Listen: h.Listen, Peer: h.Peer, Replication: h.Replication, Lease: h.Lease.Duration,
			AnnounceRefresh: h.AnnounceRefresh.Duration}
		if h.Replication {
			c.Replication = &ha.Config{Listen: h.Listen, Peer: h.Peer, Key: h.Key}
		}
	}
	for _, n := range cfg.Neighbors {
		if i := cfg.PortIndex(n.Port); i >= 0 {
			c.Static = append(c.Static, StaticNeighbor{Port: i, Address: n.Address, MAC: [6]byte(n.MAC)})
		}
	}
	for i := range cfg.Contexts {
		c.StaticContexts = append(c.StaticContexts, staticSpec(c.Setup, &cfg.Contexts[i]))
	}
	// A host with an [[hba]] set announces all its addresses as locators;
	// any other inside host has its ULID alone. Peers' lists are verified
	// by HBA and CGA (RFC 5535, RFC 3972).
	hosts, err := hbaHosts(cfg)
	if err != nil {
		return Config{}, err
	}
	c.Shim = &ShimSetup{
		IdleTimeout: cfg.Shim.IdleTimeout.Duration, Hosts: hosts,
		REAP: true, SendTimeout: cfg.Shim.SendTimeout.Duration,
		R1Rate: cfg.Shim.R1Rate, R1RatePerPrefix: cfg.Shim.R1RatePerPrefix,
		ULPAdvice: cfg.Shim.ULPAdviceOn(), ULPHold: cfg.Shim.ULPHold.Duration,
	}
	return c, nil
}
