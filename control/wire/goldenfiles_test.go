package wire_test

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update-golden-files", false, "rewrite testdata/golden from the golden messages")

// TestGoldenFiles keeps testdata/golden/NAME.hex, one golden message each
// in hex, equal to the goldens of golden_test.go, so that tools outside
// this package (the Wireshark dissector's test in cmd/shim6ctl) read the
// same octets. Run with -update-golden-files after changing a golden.
func TestGoldenFiles(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	for _, g := range goldens {
		path := filepath.Join(dir, g.name+".hex")
		want := hex.EncodeToString(g.wire) + "\n"
		if *updateGolden {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./control/wire -run TestGoldenFiles -update-golden-files)", err)
		}
		if strings.TrimSpace(string(got)) != strings.TrimSpace(want) {
			t.Errorf("%s differs from golden %s; rerun with -update-golden-files", path, g.name)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.hex"))
	if len(files) != len(goldens) && !*updateGolden {
		t.Errorf("%d files in %s for %d goldens", len(files), dir, len(goldens))
	}
}
