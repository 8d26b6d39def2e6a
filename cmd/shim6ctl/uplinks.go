package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"

	"shim6d/control/admin"
)

func init() {
	register("uplinks", "show the uplinks' site policy (priority, weight, backup), condition and contexts on each",
		daemonCmd("/uplinks", func() any { return &[]admin.Uplink{} }, printUplinks))
	register("uplink", "change an uplink's policy at run time: shim6ctl uplink NAME [--priority N] [--weight N] [--backup=BOOL] [--drain|--undrain]", runUplink)
}

func printUplinks(w io.Writer, v any) {
	ups := *v.(*[]admin.Uplink)
	total := 0
	for _, u := range ups {
		total += u.Contexts
	}
	fmt.Fprintln(w, "UPLINK\tPREFIX\tPRIORITY\tWEIGHT\tSTATE\tCONTEXTS\tSHARE")
	for _, u := range ups {
		state := "up"
		switch {
		case u.Drained && !u.Withdrawn:
			state = "draining" // contexts moving off; locators still announced, BROKEN
		case u.Drained:
			state = "drained"
		case u.Down:
			state = "down"
		}
		if u.Backup {
			state += " (backup)"
		}
		share := "-"
		if total > 0 {
			share = fmt.Sprintf("%.1f%%", 100*float64(u.Contexts)/float64(total))
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%s\t%d\t%s\n", u.Name, u.Prefix, u.Priority, u.Weight, state, u.Contexts, share)
	}
}

func runUplink(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("uplink", flag.ContinueOnError)
	sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
	asJSON := fs.Bool("json", false, "print JSON")
	prio := fs.Int("priority", -1, "Locator Preferences priority, 0..254, lower preferred")
	weight := fs.Int("weight", -1, "Locator Preferences weight, 0..255, a share within the priority")
	backup := fs.String("backup", "", "true: use only while no other uplink works; false: a primary again")
	drain := fs.Bool("drain", false, "withdraw the uplink: its locators leave every host's set, contexts move off it")
	undrain := fs.Bool("undrain", false, "announce the uplink's locators again")
	// The name comes first (shim6ctl uplink isp1 --weight 3); flag stops
	// at the first non-flag, so parse what follows it.
	if len(args) == 0 || len(args[0]) > 0 && args[0][0] == '-' {
		return errors.New("want the uplink's name first: shim6ctl uplink NAME [--priority N] [--weight N] [--backup=BOOL] [--drain|--undrain]")
	}
	name := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	q := url.Values{}
	if *prio >= 0 {
		if *prio > 254 {
			return fmt.Errorf("--priority %d: write 0 to 254 (255 is what --backup=true announces)", *prio)
		}
		q.Set("priority", strconv.Itoa(*prio))
	}
	if *weight >= 0 {
		if *weight > 255 {
			return fmt.Errorf("--weight %d: write 0 to 255", *weight)
		}
		q.Set("weight", strconv.Itoa(*weight))
	}
	if *backup != "" {
		if _, err := strconv.ParseBool(*backup); err != nil {
			return fmt.Errorf("--backup=%q: write true or false", *backup)
		}
		q.Set("backup", *backup)
	}
	switch {
	case *drain && *undrain:
		return errors.New("--drain or --undrain, not both")
	case *drain:
		q.Set("drained", "true")
	case *undrain:
		q.Set("drained", "false")
	}
	if len(q) == 0 {
		return errors.New("nothing to change: give --priority, --weight, --backup, --drain or --undrain")
	}
	body, err := admin.NewClient(*sock).Post("/uplinks/" + url.PathEscape(name) + "?" + q.Encode())
	if err != nil {
		return err
	}
	var ups []admin.Uplink
	if err := json.Unmarshal(body, &ups); err != nil {
		return err
	}
	return show(out, &ups, *asJSON, printUplinks)
}
