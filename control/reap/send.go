package reap

import (
	"net/netip"

	"shim6d/control/wire"
)

// What goes out: Probes with their reports and the backoff between them,
// and Keepalives (RFC 5534 §4.3, §5.1, §5.2, §7).

type report struct {
	src, dst    [16]byte
	nonce, data uint32
}

func (rp report) wire() wire.ProbeReport {
	return wire.ProbeReport{Source: netip.AddrFrom16(rp.src), Destination: netip.AddrFrom16(rp.dst),
		Nonce: rp.nonce, Data: rp.data}
}

// probeGap is the wait after the n-th probe of an exploration: Initial
// Probe Timeout for the first Number of Initial Probes, then doubling up
// to Max Probe Timeout (RFC 5534 §4.3, §7).
func probeGap(n uint32) int64 {
	if n < NumberOfInitialProbes {
		return int64(InitialProbeTimeout)
	}
	d := int64(InitialProbeTimeout)
	for i := uint32(NumberOfInitialProbes); i <= n && d < int64(MaxProbeTimeout); i++ {
		d *= 2
	}
	return min(d, int64(MaxProbeTimeout))
}

// sendProbe sends the next probe of r's exploration in r's state (RFC 5534
// §6.1, §6.5): on a pair a report proved to work if there is one, else on
// the next candidate pair whose local locator is up, and schedules the
// next retransmission.
func (m *Machine) sendProbe(id ID, r *record, now int64) {
	e := m.exp(r)
	if e == nil {
		e = m.startExploration(r, now)
	}
	nl, np := int(r.nLocal), int(r.nPeer)
	li, pi := int(r.curLocal), int(r.curPeer)
	if r.state == Operational {
		// the answer of §6.8 goes on the current pair
	} else if l, p := pairAt(int(e.good), nl, np); e.good >= 0 && !m.isDown(m.locs[int(r.locOff)+l]) {
		li, pi = l, p
	} else {
		found := false
		for try := 0; try < nl*np; try++ {
			k := (int(e.nextPair) + try) % (nl * np)
			l, p := pairAt(k, nl, np)
			if !m.isDown(m.locs[int(r.locOff)+l]) {
				li, pi, found = l, p, true
				e.nextPair = uint16((k + 1) % (nl * np))
				break
			}
		}
		if !found { // every local locator is down: wait for LinkUp
			e.probeDue = now + m.jit(probeGap(e.probes))
			return
		}
	}
	src, dst := m.local(r, li), m.peer(r, pi)
	rep := report{src: src.As16(), dst: m.locs[int(r.locOff)+nl+pi], nonce: uint32(m.rnd())}
	copy(e.sent[1:], e.sent[:reportsKept-1])
	e.sent[0] = rep
	e.nSent = min(e.nSent+1, reportsKept)
	p := &m.probe
	*p = wire.Probe{ReceiverContextTag: r.tag, State: r.state.wire(), Sent: m.sentBuf[:e.nSent]}
	for i := range e.nSent {
		m.sentBuf[i] = e.sent[i].wire()
	}
	if e.nRecv > 0 {
		p.Received = m.recvBuf[:e.nRecv]
		for i := range e.nRecv {
			m.recvBuf[i] = e.recv[i].wire()
		}
	}
	e.probes++
	gap := probeGap(e.probes)
	if gap >= int64(MaxProbeTimeout) && r.flags&flagFailed == 0 {
		r.flags |= flagFailed // a hint to garbage collection (§4.3)
		m.stats.counts[explorationsFailed].Add(1)
	}
	e.probeDue = now + m.jit(gap)
	m.stats.counts[probesSent].Add(1)
	m.out.SendProbe(id, src, dst, p)
}

func (m *Machine) sendKeepalive(id ID, r *record) {
	m.keepalive = wire.Keepalive{ReceiverContextTag: r.tag}
	m.stats.counts[keepalivesSent].Add(1)
	m.out.SendKeepalive(id, m.local(r, int(r.curLocal)), m.peer(r, int(r.curPeer)), &m.keepalive)
}
