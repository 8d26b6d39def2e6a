package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"shim6d/control/admin"
)

func init() {
	register("reload", "re-read the daemon's configuration file and apply what can change live (exit 2 when refused)", runReload)
}

// refused is a reload the daemon would not apply: its one line, and exit
// status 2, as shim6d --check gives for a configuration it refuses.
type refused struct{ line string }

func (r *refused) Error() string { return r.line }
func (r *refused) ExitCode() int { return 2 }

// runReload asks the daemon to reload (POST /reload) and prints the keys
// it changed; a refusal (a key that needs a restart) or a file that does
// not load comes back as the daemon's line, which names file, line and key.
func runReload(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("reload", flag.ContinueOnError)
	sock := fs.String("socket", envOr("SHIM6D_SOCKET", defaultSocket), "admin socket of the daemon")
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("takes no arguments (it reloads the file the daemon was started with), not %q", fs.Arg(0))
	}
	body, err := admin.NewClient(*sock).Post("/reload")
	var se *admin.StatusError
	if errors.As(err, &se) && (se.Code == http.StatusConflict || se.Code == http.StatusUnprocessableEntity) {
		return &refused{line: strings.TrimSpace(string(body)) + "; shim6d runs on with the configuration it had"}
	}
	if err != nil {
		return err
	}
	var res admin.Reload
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("shim6d's answer: %w", err)
	}
	return show(out, &res, *asJSON, printReload)
}

func printReload(w io.Writer, v any) {
	res := v.(*admin.Reload)
	if len(res.Changed) == 0 {
		fmt.Fprintln(w, "configuration reloaded: nothing changed")
		return
	}
	fmt.Fprintf(w, "configuration reloaded: %d changed\n", len(res.Changed))
	for _, c := range res.Changed {
		fmt.Fprintf(w, "  %s\n", c)
	}
}
