package ports

// MaxPorts bounds the ports one worker polls in a Round.
const MaxPorts = 16

// Round is a worker's buffers for one poll round over its ports: what each
// port has to send, and room for what each receives. It is one
// pointer-free block, so a backend can drain and fill all of it in one
// call (for DPDK, one cgo crossing a round instead of one per burst).
//
// The buffers are Bufs; TxBuf[p] and RxBuf[p] say which one is port p's
// for sending and which for receiving. They are a permutation of
// 0..2*MaxPorts-1 that the caller may change between rounds: a worker whose
// whole rx burst of port a leaves by port b swaps RxBuf[a] and TxBuf[b],
// and sends the burst without copying it.
type Round struct {
	Bufs [2 * MaxPorts][MaxBurst]Packet
	// Bufs[TxBuf[p]][:NTx[p]] wait to be sent on port p.
	TxBuf [MaxPorts]uint8
	// Bufs[RxBuf[p]][:NRx[p]] were received on port p.
	RxBuf [MaxPorts]uint8
	NTx   [MaxPorts]uint16
	NRx   [MaxPorts]uint16
	// Sent[p] is how many of Bufs[TxBuf[p]][:NTx[p]] port p took, in
	// order; the caller still owns the rest.
	Sent [MaxPorts]uint16
	// RxBytes[p] and TxBytes[p] are the frame bytes port p received and
	// sent (the first Sent[p]): the backend's loops over the bursts sum
	// them where the worker's would need another pass.
	RxBytes [MaxPorts]uint32
	TxBytes [MaxPorts]uint32
}

// Init sets the buffers to their first assignment: port p sends from
// buffer p and receives into buffer MaxPorts+p.
func (r *Round) Init() {
	for p := range MaxPorts {
		r.TxBuf[p], r.RxBuf[p] = uint8(p), uint8(MaxPorts+p)
	}
	r.NTx, r.NRx, r.Sent = [MaxPorts]uint16{}, [MaxPorts]uint16{}, [MaxPorts]uint16{}
	r.RxBytes, r.TxBytes = [MaxPorts]uint32{}, [MaxPorts]uint32{}
}

// Tx returns the packets waiting to be sent on port p.
func (r *Round) Tx(p int) []Packet { return r.Bufs[r.TxBuf[p]][:r.NTx[p]] }

// Rx returns the packets received on port p.
func (r *Round) Rx(p int) []Packet { return r.Bufs[r.RxBuf[p]][:r.NRx[p]] }

// Rounder runs rounds over a fixed list of ports, one rx and one tx queue
// on each.
type Rounder interface {
	// Round sends every port's waiting packets (setting Sent and
	// TxBytes), then, when rx is true, receives a burst from every port
	// (setting NRx and RxBytes) and returns the number of packets
	// received. With rx false it leaves NRx and RxBytes alone, so that a
	// caller may send halfway through handling what it received, and
	// returns 0.
	Round(r *Round, rx bool) int
}

// RoundOpener is implemented by backends that run a Round over several of
// their own ports faster than port by port.
type RoundOpener interface {
	// OpenRound returns a Rounder for ports, or false when it cannot serve
	// them all (ports of another backend among them).
	OpenRound(ports []Port, rxq, txq uint16) (Rounder, bool)
}

// NewRounder returns a Rounder for ports: the backend's own when the first
// port offers one for them all, else one that calls each port's TxBurst
// and RxBurst in turn.
func NewRounder(ports []Port, rxq, txq uint16) Rounder {
	if len(ports) > MaxPorts {
		panic("ports: more than MaxPorts ports in a round")
	}
	if len(ports) > 0 {
		if o, ok := ports[0].(RoundOpener); ok {
			if r, ok := o.OpenRound(ports, rxq, txq); ok {
				return r
			}
		}
	}
	return &portRounder{ports: ports, rxq: rxq, txq: txq}
}

// portRounder is the Rounder of any ports: one burst call per queue.
type portRounder struct {
	ports    []Port
	rxq, txq uint16
}

func (pr *portRounder) Round(r *Round, rx bool) int {
	for p, port := range pr.ports {
		r.Sent[p], r.TxBytes[p] = 0, 0
		if r.NTx[p] > 0 {
			r.Sent[p] = uint16(port.TxBurst(pr.txq, r.Tx(p)))
			r.TxBytes[p] = sumLen(r.Tx(p)[:r.Sent[p]])
		}
	}
	if !rx {
		return 0
	}
	total := 0
	for p, port := range pr.ports {
		r.NRx[p] = uint16(port.RxBurst(pr.rxq, r.Bufs[r.RxBuf[p]][:]))
		r.RxBytes[p] = sumLen(r.Rx(p))
		total += int(r.NRx[p])
	}
	return total
}

func sumLen(pkts []Packet) uint32 {
	var n uint32
	for i := range pkts {
		n += uint32(pkts[i].Len)
	}
	return n
}
