// Package prometheus holds shim6d's alerting rules (shim6d.rules.yml) and
// their unit tests (shim6d.rules.test.yml); this test runs both through
// Debian's promtool, so `go test` keeps the rules parseable and their
// behaviour pinned.
package prometheus

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// promtool finds promtool or skips: it is Debian's prometheus package.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("needs promtool (Debian prometheus)")
	}
	return p
}

// TestRulesCheck: promtool parses every rule and its PromQL, and checks
// the templates of the annotations.
func TestRulesCheck(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", "shim6d.rules.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// TestRulesUnit runs the rules' unit tests: for each alert, series that
// make it fire at a given time with given labels and annotations, and
// series that resemble them and must not.
func TestRulesUnit(t *testing.T) {
	out, err := exec.Command(promtool(t), "test", "rules", "shim6d.rules.test.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules did not report success:\n%s", out)
	}
}

// TestEveryAlertTested: each alert of the rules file appears in an
// alert_rule_test, so an alert added without a test fails here.
func TestEveryAlertTested(t *testing.T) {
	rules := readFile(t, "shim6d.rules.yml")
	tests := readFile(t, "shim6d.rules.test.yml")
	n := 0
	for _, line := range strings.Split(rules, "\n") {
		name, ok := strings.CutPrefix(strings.TrimSpace(line), "- alert: ")
		if !ok {
			continue
		}
		n++
		if !strings.Contains(tests, "alertname: "+name+"\n") {
			t.Errorf("alert %s has no alert_rule_test in shim6d.rules.test.yml", name)
		}
	}
	if n == 0 {
		t.Fatal("no alerts found in shim6d.rules.yml")
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
