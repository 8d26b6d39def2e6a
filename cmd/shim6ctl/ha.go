package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"

	"shim6d/control/admin"
)

func init() {
	register("ha", "show the HA role, or set it: ha active|standby|fault [--why TEXT], ha lease (for keepalived's scripts)", haCmd)
}

// haCmd is `shim6ctl ha` (show), `shim6ctl ha active|standby|fault` (what
// keepalived's notify scripts run) and `shim6ctl ha lease` (what its
// vrrp_script runs every second: it renews the active role's lease, and
// its failure, shim6d not answering, tells keepalived to give the role
// up). Flags go before the verb.
func haCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ha", flag.ContinueOnError)
	sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
	asJSON := fs.Bool("json", false, "print JSON")
	why := fs.String("why", "", "the reason logged and shown with a new role (default: the command)")
	quiet := fs.Bool("quiet", false, "print nothing on success (for scripts)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shim6ctl ha [flags] [active|standby|fault|lease]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cl := admin.NewClient(*sock)
	var body []byte
	var err error
	switch verb := fs.Arg(0); {
	case fs.NArg() > 1:
		return fmt.Errorf("one verb at a time, not %q; put flags before it", strings.Join(fs.Args(), " "))
	case verb == "":
		h, err := cl.HAOf()
		if err != nil {
			return err
		}
		return show(out, &h, *asJSON, printHA)
	case verb == "lease":
		body, err = cl.Post("/ha/lease")
	case verb == "active" || verb == "standby" || verb == "fault":
		q := url.Values{"role": {verb}}
		if *why != "" {
			q.Set("why", *why)
		}
		body, err = cl.Post("/ha/role?" + q.Encode())
	default:
		return fmt.Errorf("%q is not a verb; write active, standby, fault or lease, or nothing to show the role", verb)
	}
	if err != nil {
		return err
	}
	if *quiet {
		return nil
	}
	var h admin.HA
	if err := json.Unmarshal(body, &h); err != nil {
		return errors.New("the daemon's answer is not /ha's: " + err.Error())
	}
	return show(out, &h, *asJSON, printHA)
}

func printHA(w io.Writer, v any) {
	h := v.(*admin.HA)
	if !h.Enabled {
		fmt.Fprintf(w, "role\t%s (no [ha] section: a box on its own)\n", h.Role)
		return
	}
	fmt.Fprintf(w, "role\t%s\n", h.Role)
	fmt.Fprintf(w, "since\t%s (%.1fs ago)\n", h.Since.Format("2006-01-02 15:04:05.000"), h.SinceSec)
	fmt.Fprintf(w, "reason\t%s\n", h.Reason)
	fmt.Fprintf(w, "changes\t%d\n", h.Changes)
	fmt.Fprintf(w, "peer\t%s (we listen on %s)\n", h.Peer, h.Listen)
	switch {
	case h.LeaseSec == 0:
		fmt.Fprintf(w, "lease\tnone (the role lasts until changed)\n")
	case h.Role == "active":
		fmt.Fprintf(w, "lease\t%.1fs left of %gs\n", h.LeaseLeftSec, h.LeaseSec)
	default:
		fmt.Fprintf(w, "lease\t%gs while active\n", h.LeaseSec)
	}
	if h.RenewedSecAgo > 0 {
		fmt.Fprintf(w, "last renewal\t%.1fs ago\n", h.RenewedSecAgo)
	}
	for _, p := range h.VirtualMACs {
		fmt.Fprintf(w, "virtual mac %s\t%s\n", p.Port, p.MAC)
	}
	fmt.Fprintf(w, "announcements\t%d\n", h.Announcements)
	fmt.Fprintf(w, "suppressed sends\t%d\n", h.SuppressedSent)
	if !h.Replication {
		fmt.Fprintf(w, "replication\toff (roles only)\n")
		return
	}
	m, ok := h.ReplicationState.(map[string]any)
	if !ok {
		fmt.Fprintf(w, "replication\ton (no state reported)\n")
		return
	}
	// The replication's report, as it gives it: its fields in order.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "replication %s\t%v\n", strings.ReplaceAll(k, "_", " "), m[k])
	}
}
