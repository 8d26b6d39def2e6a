package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"shim6d/control/admin"
)

// defaultSocket is the daemon's default admin socket; SHIM6D_SOCKET
// overrides it, --socket overrides both.
const defaultSocket = "/run/shim6d/admin.sock"

func init() {
	register("status", "show the daemon's status", daemonCmd("/status", func() any { return &admin.Status{} }, printStatus))
	register("ports", "show ports, link state, device counters and the buffer pools", portsCmd)
	register("stats", "show worker counters, drops by reason and control-core counters", daemonCmd("/stats", func() any { return &admin.Stats{} }, printStats))
	register("neighbors", "show the neighbor table", daemonCmd("/neighbors", func() any { return &[]admin.Neighbor{} }, printNeighbors))
}

// daemonCmd makes a subcommand that GETs route and prints it as a table, or
// as JSON with --json.
func daemonCmd(route string, alloc func() any, print func(io.Writer, any)) func([]string, io.Writer) error {
	return func(args []string, out io.Writer) error {
		fs := flag.NewFlagSet(route[1:], flag.ContinueOnError)
		sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := fs.Parse(args); err != nil {
			return err
		}
		v := alloc()
		if err := admin.NewClient(*sock).Get(route, v); err != nil {
			return err
		}
		return show(out, v, *asJSON, print)
	}
}

// show prints v as indented JSON, or as the table print makes of it.
func show(out io.Writer, v any, asJSON bool, print func(io.Writer, any)) error {
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	print(tw, v)
	return tw.Flush()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func printStatus(w io.Writer, v any) {
	s := v.(*admin.Status)
	fmt.Fprintf(w, "version\t%s\n", s.Version)
	fmt.Fprintf(w, "config\t%s\n", s.Config)
	fmt.Fprintf(w, "uptime\t%.0fs (since %s)\n", s.UptimeSec, s.Started.Format("2006-01-02 15:04:05"))
	fmt.Fprintf(w, "workers\t%d (%s polling)\n", s.Workers, s.Polling)
	fmt.Fprintf(w, "ports\t%d\n", s.Ports)
	fmt.Fprintf(w, "neighbors\t%d\n", s.Neighbors)
	fmt.Fprintf(w, "control ring\t%d/%d\n", s.RingUsed, s.RingCap)
	for _, p := range s.Pools {
		fmt.Fprintf(w, "pool %s\t%d available, %d in use\n", p.Name, p.Available, p.InUse)
	}
}

func printPorts(w io.Writer, v any) {
	// MTU is what forwarding uses (the configured MTU, or the device's
	// when smaller); DEV MTU the device's own.
	fmt.Fprintln(w, "PORT\tROLE\tDEVICE\tMAC\tMTU\tDEV MTU\tLINK\tRX PKTS\tTX PKTS\tRX MISSED\tDROPS\tADDRESSES")
	for _, p := range *v.(*[]admin.Port) {
		link := "down"
		if p.LinkUp {
			link = "up"
		}
		addrs := make([]string, len(p.Addresses))
		for i, a := range p.Addresses {
			addrs[i] = a.String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%s\n", p.Name, p.Role, p.Device, p.MAC, p.ForwardMTU, p.MTU, link,
			p.RxPackets, p.TxPackets, p.RxMissed, p.Drops, strings.Join(addrs, ","))
	}
}

// portsCmd is daemonCmd for /ports, with the buffer pools' counts (from
// /status) under the table: a leak shows as in-use creeping up while the
// ports' counters say the traffic is steady. --json prints /ports alone,
// as before; the pools are in status --json.
func portsCmd(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("ports", flag.ContinueOnError)
	sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
	asJSON := fs.Bool("json", false, "print JSON (the ports only; status --json has the pools)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cl := admin.NewClient(*sock)
	var ps []admin.Port
	if err := cl.Get("/ports", &ps); err != nil {
		return err
	}
	if *asJSON {
		return show(out, &ps, true, printPorts)
	}
	var st admin.Status
	if err := cl.Get("/status", &st); err != nil {
		return err
	}
	return show(out, &portsAndPools{ps, st.Pools}, false, printPortsAndPools)
}

type portsAndPools struct {
	ports []admin.Port
	pools []admin.Pool
}

func printPortsAndPools(w io.Writer, v any) {
	pp := v.(*portsAndPools)
	printPorts(w, &pp.ports)
	if len(pp.pools) > 0 {
		fmt.Fprintln(w)
		printPools(w, pp.pools)
	}
}

func printPools(w io.Writer, pools []admin.Pool) {
	fmt.Fprintln(w, "POOL\tAVAILABLE\tIN USE")
	for _, p := range pools {
		fmt.Fprintf(w, "%s\t%d\t%d\n", p.Name, p.Available, p.InUse)
	}
}

func printStats(w io.Writer, v any) {
	s := v.(*admin.Stats)
	fmt.Fprintln(w, "WORKER\tPOLLS\tIDLE\tRX\tTX\tTO CONTROL\tSLOW PATH")
	for _, wk := range s.Workers {
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%d\t%d\t%d\n", wk.ID, wk.Polls, wk.IdlePolls, wk.RxPackets, wk.TxPackets, wk.ToControl, wk.SlowPath)
	}
	printMap(w, "\nDROP REASON\tPACKETS", s.Drops)
	printMap(w, "\nCONTROL\tCOUNT", s.Control)
}

func printMap(w io.Writer, title string, m map[string]uint64) {
	fmt.Fprintln(w, title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%d\n", k, m[k])
	}
}

func printNeighbors(w io.Writer, v any) {
	ns := *v.(*[]admin.Neighbor)
	sort.Slice(ns, func(i, j int) bool {
		if ns[i].Port != ns[j].Port {
			return ns[i].Port < ns[j].Port
		}
		return ns[i].Address.Less(ns[j].Address)
	})
	fmt.Fprintln(w, "PORT\tADDRESS\tMAC\tSTATE\tAGE\tQUEUED")
	for _, n := range ns {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%.1fs\t%d\n", n.Port, n.Address, n.MAC, n.State, n.AgeSec, n.Queued)
	}
}

func init() {
	register("metrics", "print the daemon's Prometheus metrics (from the admin socket)", func(args []string, out io.Writer) error {
		fs := flag.NewFlagSet("metrics", flag.ContinueOnError)
		sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
		if err := fs.Parse(args); err != nil {
			return err
		}
		body, err := admin.NewClient(*sock).GetRaw("/metrics")
		if err != nil {
			return err
		}
		_, err = out.Write(body)
		return err
	})
}

func init() {
	register("contexts", "list the host-pair contexts in the fast-path table", daemonCmd("/contexts", func() any { return &[]admin.Context{} }, printContexts))
}

func printContexts(w io.Writer, v any) {
	cs := *v.(*[]admin.Context)
	fmt.Fprintln(w, "SLOT\tSTATE\tLOCAL ULID\tPEER ULID\tLOCAL LOCATOR\tPEER LOCATOR\tLOCAL TAG\tPEER TAG\tUPLINK\tSENT\tRECEIVED")
	ago := func(s float64) string {
		if s < 0 {
			return "never"
		}
		return fmt.Sprintf("%.1fs ago", s)
	}
	for _, c := range cs {
		loc, peer := c.LocalLocator.String(), c.PeerLocator.String()
		if !c.Rewriting {
			loc, peer = "(= ULID)", "(= ULID)"
		}
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Slot, c.State, c.LocalULID, c.PeerULID, loc, peer,
			c.LocalTag, c.PeerTag, c.Uplink, ago(c.LastSentSec), ago(c.LastRecvSec))
	}
	fmt.Fprintf(w, "%d contexts\n", len(cs))
}

func init() {
	register("synth", "load N synthetic contexts (control/synth's plan) for benchmarks and capacity tests", func(args []string, out io.Writer) error {
		fs := flag.NewFlagSet("synth", flag.ContinueOnError)
		sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
		count := fs.Uint("count", 1000, "contexts to create")
		seed := fs.Uint64("seed", 1, "the plan's seed (pcapgen -synth must use the same)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		start := time.Now()
		show := progressLine(os.Stderr)
		made, err := admin.NewClient(*sock).Synthesize(uint64(*count), *seed, func(p admin.SynthProgress) {
			if p.Created == nil {
				show(p.Made, p.Count, time.Since(start))
			}
		})
		show(-1, 0, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "created %s contexts in %.1f s\n", thousands(uint64(made)), time.Since(start).Seconds())
		return nil
	})
}

// progressLine returns a function that shows a load's progress on w: on
// one line rewritten in place when w is a terminal, a line each otherwise
// (logs, pipes). made < 0 ends the display.
func progressLine(w *os.File) func(made int, count uint64, elapsed time.Duration) {
	st, err := w.Stat()
	tty := err == nil && st.Mode()&os.ModeCharDevice != 0
	shown := false
	return func(made int, count uint64, elapsed time.Duration) {
		if made < 0 {
			if shown && tty {
				fmt.Fprintln(w)
			}
			return
		}
		pct := 0.0
		if count > 0 {
			pct = 100 * float64(made) / float64(count)
		}
		line := fmt.Sprintf("loaded %s of %s (%.0f%%), %.1f s", thousands(uint64(made)), thousands(count), pct, elapsed.Seconds())
		if tty {
			fmt.Fprintf(w, "\r%s\033[K", line)
		} else {
			fmt.Fprintln(w, line)
		}
		shown = true
	}
}

// thousands writes n with commas between groups of three digits.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func init() {
	register("establish", "start a Shim6 context for a ULID pair: shim6ctl establish LOCAL-ULID PEER-ULID", func(args []string, out io.Writer) error {
		fs := flag.NewFlagSet("establish", flag.ContinueOnError)
		sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 2 {
			return fmt.Errorf("want two addresses: the inside host's ULID and the peer's ULID")
		}
		q := url.Values{"local": {fs.Arg(0)}, "peer": {fs.Arg(1)}}
		body, err := admin.NewClient(*sock).Post("/establish?" + q.Encode())
		if err != nil {
			return err
		}
		_, err = out.Write(body)
		return err
	})
}

func init() {
	register("context", "show one context in full: shim6ctl context SLOT", func(args []string, out io.Writer) error {
		fs := flag.NewFlagSet("context", flag.ContinueOnError)
		sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("want one context slot (the SLOT column of shim6ctl contexts)")
		}
		var cs []admin.Context
		if err := admin.NewClient(*sock).Get("/contexts", &cs); err != nil {
			return err
		}
		for _, c := range cs {
			if fmt.Sprint(c.Slot) != fs.Arg(0) {
				continue
			}
			if *asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(c)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "slot\t%d\nstate\t%s\n", c.Slot, c.State)
			fmt.Fprintf(tw, "ULIDs\t%s (local) ↔ %s (peer)\n", c.LocalULID, c.PeerULID)
			fmt.Fprintf(tw, "current pair\t%s → %s (uplink %s, rewriting %v)\n", c.LocalLocator, c.PeerLocator, c.Uplink, c.Rewriting)
			fmt.Fprintf(tw, "tags\t%s (local), %s (peer)\n", c.LocalTag, c.PeerTag)
			if c.PreferredLocal != nil {
				fmt.Fprintf(tw, "preferred pair\t%s → %s (site policy)\n", c.PreferredLocal, c.PreferredPeer)
			}
			fmt.Fprintf(tw, "local locators\t%v\npeer locators\t%v\n", c.LocalLocators, c.PeerLocators)
			fmt.Fprintf(tw, "last sent / received\t%.1fs / %.1fs ago\n", c.LastSentSec, c.LastRecvSec)
			return tw.Flush()
		}
		return fmt.Errorf("no context in slot %s", fs.Arg(0))
	})
}
