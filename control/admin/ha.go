package admin

import (
	"fmt"
	"net/http"
	"time"
)

// HA is GET /ha: the box's role in its active/standby pair.
type HA struct {
	// Enabled is false for a box without [ha], which is always active.
	Enabled bool      `json:"enabled"`
	Role    string    `json:"role"`
	Since   time.Time `json:"since"`
	// SinceSec is how long the box has had its role.
	SinceSec float64 `json:"since_s"`
	// Reason is why the role last changed: the notify script's words,
	// or the lease running out.
	Reason  string `json:"reason"`
	Changes uint64 `json:"changes"`
	Listen  string `json:"listen,omitempty"`
	Peer    string `json:"peer,omitempty"`
	// LeaseSec is the active role's lease (0: none); LeaseLeftSec what
	// is left of it while active; RenewedSecAgo the last renewal.
	LeaseSec      float64 `json:"lease_s"`
	LeaseLeftSec  float64 `json:"lease_left_s,omitempty"`
	RenewedSecAgo float64 `json:"renewed_s_ago,omitempty"`
	// VirtualMACs are the ports' virtual MACs.
	VirtualMACs []HAPort `json:"virtual_macs,omitempty"`
	// Announcements counts the unsolicited Neighbor Advertisements sent
	// on becoming active; SuppressedSent the packets the core built
	// while not active and did not send.
	Announcements  uint64 `json:"announcements"`
	SuppressedSent uint64 `json:"suppressed_sent"`
	// Replication says whether contexts are copied to the standby;
	// ReplicationState is the replication's own report, as it gives it.
	Replication      bool `json:"replication"`
	ReplicationState any  `json:"replication_state,omitempty"`
}

// HAPort is a port's virtual MAC.
type HAPort struct {
	Port string `json:"port"`
	MAC  string `json:"mac"`
}

// HASource is what a daemon with HA roles adds to Source. Handler serves
// the /ha routes for a Source that has it.
type HASource interface {
	HA() HA
	// SetRole makes the box active, standby or fault, for why.
	SetRole(role, why string) error
	// RenewLease extends an active role's lease.
	RenewLease() error
}

// haRoutes adds GET /ha, POST /ha/role?role=ROLE[&why=TEXT] and POST
// /ha/lease; each answers GET /ha after the change.
func haRoutes(mux *http.ServeMux, src HASource) {
	mux.HandleFunc("GET /ha", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, src.HA()) })
	mux.HandleFunc("POST /ha/role", func(w http.ResponseWriter, r *http.Request) {
		role := r.URL.Query().Get("role")
		if role == "" {
			http.Error(w, "want ?role=active, standby or fault", http.StatusBadRequest)
			return
		}
		if err := src.SetRole(role, r.URL.Query().Get("why")); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, src.HA())
	})
	mux.HandleFunc("POST /ha/lease", func(w http.ResponseWriter, r *http.Request) {
		if err := src.RenewLease(); err != nil {
			fail(w, err)
			return
		}
		writeJSON(w, src.HA())
	})
}

// HAOf reads GET /ha.
func (c *Client) HAOf() (HA, error) {
	var h HA
	err := c.Get("/ha", &h)
	return h, err
}

// String is a one-line summary, for logs.
func (h HA) String() string { return fmt.Sprintf("%s for %.1fs (%s)", h.Role, h.SinceSec, h.Reason) }
