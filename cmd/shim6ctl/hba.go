package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"time"

	"shim6d/control/hba"
)

func init() {
	register("hba", "generate HBA sets and check addresses against them (RFC 5535)", runHBA)
}

// hbaStderr takes warnings and progress, so that stdout holds only the
// result (a TOML snippet, say). Tests replace it.
var hbaStderr io.Writer = os.Stderr

const hbaUsage = `usage:
  shim6ctl hba generate --prefix P1 --prefix P2 ... [--sec N] [--count K] [--key FILE] [--workers W] [--json|--toml]
  shim6ctl hba verify --params HEX [--json] ADDRESS...`

// runHBA implements `shim6ctl hba generate` and `shim6ctl hba verify`.
func runHBA(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(hbaStderr, hbaUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "generate":
		return runHBAGenerate(args[1:], stdout)
	case "verify":
		return runHBAVerify(args[1:], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(hbaStderr, hbaUsage)
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown subcommand %q\n%s", args[0], hbaUsage)
}

// prefixFlag collects repeated --prefix flags.
type prefixFlag []netip.Prefix

func (p *prefixFlag) String() string { return fmt.Sprint([]netip.Prefix(*p)) }

func (p *prefixFlag) Set(s string) error {
	q, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("%q is not a prefix; write it like 2001:db8:1::/64", s)
	}
	if !q.Addr().Is6() || q.Addr().Is4In6() || q.Bits() != 64 {
		return fmt.Errorf("%v is not an IPv6 /64; HBA sets are made of 64-bit prefixes (RFC 5535 §5)", q)
	}
	if q.Masked() != q {
		return fmt.Errorf("%v has bits set after the 64th; write %v", q, q.Masked())
	}
	*p = append(*p, q)
	return nil
}

// hbaSetOut is one generated set as printed: the shape of a [[hba]] table of
// the daemon's configuration, plus facts for the operator in JSON.
type hbaSetOut struct {
	Prefixes   []string `json:"prefixes"`
	Parameters string   `json:"parameters"`
	Addresses  []string `json:"addresses"`
	Key        string   `json:"key,omitempty"`
	Sec        int      `json:"sec"`
	PublicKey  bool     `json:"public_key_included"`
	Hashes     uint64   `json:"hashes"`
}

// runHBAGenerate implements `shim6ctl hba generate`: K HBA sets over the
// given prefixes (RFC 5535 §6), each printed as its CGA Parameters in hex and
// the address under each prefix.
func runHBAGenerate(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hba generate", flag.ContinueOnError)
	fs.SetOutput(hbaStderr)
	var prefixes prefixFlag
	fs.Var(&prefixes, "prefix", "a /64 of the set (repeat, one per provider); the order is kept")
	sec := fs.Uint("sec", 1, "security parameter Sec: 0, 1 (about 2^16 hashes) or 2 (about 2^32 hashes, hours)")
	count := fs.Int("count", 1, "number of HBA sets to generate")
	keyFile := fs.String("key", "", "PEM file with an RSA key (1024 bits or more): CGA-compatible sets, which can sign for locators outside the set")
	workers := fs.Int("workers", runtime.NumCPU(), "goroutines for the modifier search")
	asJSON := fs.Bool("json", false, "print one JSON object per set")
	asTOML := fs.Bool("toml", false, "print [[hba]] tables for the configuration file")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shim6ctl hba generate --prefix P1 --prefix P2 ... [--sec N] [--count K] [--key FILE] [--json|--toml]")
		fs.PrintDefaults()
	}
	rest, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected argument %q; prefixes go after --prefix", rest[0])
	case len(prefixes) == 0:
		return errors.New("no --prefix given; name each /64 of the site, e.g. --prefix 2001:db8:1::/64 --prefix 2001:db8:2::/64")
	case *sec > uint(hba.MaxHBASec):
		return fmt.Errorf("--sec %d: HBA sets are defined for Sec 0, 1 and 2 (RFC 5535 §6)", *sec)
	case *count < 1:
		return fmt.Errorf("--count %d: give 1 or more", *count)
	case *asJSON && *asTOML:
		return errors.New("--json and --toml exclude each other; pick one")
	case *workers < 1:
		return fmt.Errorf("--workers %d: give 1 or more", *workers)
	}
	var pub []byte
	if *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return err
		}
		k, err := hba.ParseKeyPEM(b)
		if err != nil {
			return fmt.Errorf("%s: %w", *keyFile, err)
		}
		pub = k.Public
		if k.Private == nil {
			fmt.Fprintf(hbaStderr, "shim6ctl hba: %s holds only a public key; the daemon needs the private key to sign for locators outside the set\n", *keyFile)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	s := hba.Sec(*sec)
	opts := &hba.Options{Workers: *workers}
	if s >= 2 {
		keyLen := len(pub)
		if pub == nil {
			keyLen = hba.ExtendedModifierLen
		}
		// The CGA Parameters: fixed fields, key, Multi-Prefix header,
		// P flag and reserved bits, prefixes (RFC 3972 §3, RFC 5535 §5).
		warnLongSearch(ctx, s, *count, *workers, 25+keyLen+4+4+8*len(prefixes))
		opts.ProgressInterval = 10 * time.Second
	}
	for i := range *count {
		if s >= 2 {
			opts.Progress = func(p hba.Progress) {
				fmt.Fprintf(hbaStderr, "shim6ctl hba: set %d of %d: %.3g hashes in %v (%.3g/s); a set takes %.3g on average\n",
					i+1, *count, float64(p.Hashes), p.Elapsed.Round(time.Second), p.Rate(), hba.ExpectedHashes(s))
			}
		}
		set, err := hba.GenerateHBASet(ctx, prefixes, s, pub, opts)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return fmt.Errorf("interrupted while generating set %d of %d", i+1, *count)
			}
			return err
		}
		out := hbaSetOut{
			Parameters: hex.EncodeToString(set.Params),
			Key:        *keyFile,
			Sec:        int(set.Sec),
			PublicKey:  pub != nil,
			Hashes:     set.Hashes,
		}
		for j, p := range set.Prefixes {
			out.Prefixes = append(out.Prefixes, p.String())
			out.Addresses = append(out.Addresses, set.Addresses[j].String())
		}
		switch {
		case *asJSON:
			err = jsonLine(stdout, out)
		case *asTOML:
			err = printHBATOML(stdout, i, *count, &out)
		default:
			err = printHBAText(stdout, i, *count, &out)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// warnLongSearch tells the operator what a Sec 2 search costs before it
// starts: it measures the hash rate over a structure of the real length for
// a quarter second (a Sec 7 search, which never finishes) and extrapolates.
func warnLongSearch(ctx context.Context, sec hba.Sec, count, workers, paramsLen int) {
	probe := make([]byte, paramsLen)
	cctx, cancel := context.WithTimeout(ctx, 250*time.Millisecond)
	began := time.Now()
	_, n, _ := hba.SearchModifier(cctx, probe, hba.MaxSec, &hba.Options{Workers: workers})
	cancel()
	rate := float64(n) / time.Since(began).Seconds()
	expect := hba.ExpectedHashes(sec) * float64(count)
	fmt.Fprintf(hbaStderr, "shim6ctl hba: warning: Sec %d needs about %.3g hashes per set (RFC 3972 §4); at %.3g hashes/s on %d workers, %d set(s) take about %v on average, possibly several times longer. Progress every 10 s; Ctrl-C stops.\n",
		sec, hba.ExpectedHashes(sec), rate, workers, count, time.Duration(expect/rate*float64(time.Second)).Round(time.Minute))
}

func printHBAText(w io.Writer, i, count int, o *hbaSetOut) error {
	kind := "HBA-only"
	if o.PublicKey {
		kind = "CGA-compatible, key " + o.Key
	}
	fmt.Fprintf(w, "HBA set %d of %d: Sec %d, %s, %d hashes\n", i+1, count, o.Sec, kind, o.Hashes)
	fmt.Fprintf(w, "  parameters %s\n", o.Parameters)
	for j := range o.Prefixes {
		fmt.Fprintf(w, "  %-24s %s\n", o.Prefixes[j], o.Addresses[j])
	}
	_, err := fmt.Fprintln(w)
	return err
}

// printHBATOML prints one [[hba]] table of the daemon's configuration (see
// the report of issue #5 for the shape).
func printHBATOML(w io.Writer, i, count int, o *hbaSetOut) error {
	kind := "HBA-only (no public key)"
	if o.PublicKey {
		kind = "CGA-compatible (P flag set)"
	}
	var b strings.Builder
	if i > 0 {
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "# HBA set %d of %d (RFC 5535 §6): Sec %d, %s.\n", i+1, count, o.Sec, kind)
	b.WriteString("# parameters is the CGA Parameter Data Structure of the first address; each\n")
	b.WriteString("# other address has the same with its own prefix as Subnet Prefix.\n")
	b.WriteString("[[hba]]\n")
	fmt.Fprintf(&b, "prefixes = %s\n", tomlStrings(o.Prefixes))
	fmt.Fprintf(&b, "parameters = %s\n", tomlString(o.Parameters))
	fmt.Fprintf(&b, "addresses = %s\n", tomlStrings(o.Addresses))
	if o.Key != "" {
		fmt.Fprintf(&b, "key = %s\n", tomlString(o.Key))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// tomlString quotes s as a TOML basic string (TOML 1.0 "String"): only the
// quote, the backslash and control characters need escapes.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func tomlStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = tomlString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// hbaVerifyOut is the JSON object `hba verify --json` prints per address.
type hbaVerifyOut struct {
	Address  string `json:"address"`
	Method   string `json:"method"`
	Verified bool   `json:"verified"`
	Reason   string `json:"reason,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

// runHBAVerify implements `shim6ctl hba verify`: for each address, whether
// it belongs to the HBA set the parameters define (RFC 5535 §7.2), or, for
// parameters without a Multi-Prefix extension, whether it is their CGA
// (RFC 3972 §5). It fails when any address does not pass.
func runHBAVerify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("hba verify", flag.ContinueOnError)
	fs.SetOutput(hbaStderr)
	paramsHex := fs.String("params", "", "CGA Parameters in hex, as `hba generate` prints them or a CGA Parameter Data Structure option holds them")
	asJSON := fs.Bool("json", false, "print one JSON object per address")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: shim6ctl hba verify --params HEX [--json] ADDRESS...")
		fs.PrintDefaults()
	}
	addrs, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *paramsHex == "" {
		return errors.New("no --params given; pass the hex that `shim6ctl hba generate` printed")
	}
	if len(addrs) == 0 {
		return errors.New("no address given; name the addresses to check after the flags")
	}
	raw, err := hex.DecodeString(strings.TrimPrefix(strings.Map(func(r rune) rune {
		if r == ':' || r == ' ' || r == '\t' || r == '\n' {
			return -1
		}
		return r
	}, *paramsHex), "0x"))
	if err != nil {
		return fmt.Errorf("--params is not hex: %w", err)
	}
	p, err := hba.ParseParameters(raw)
	if err != nil {
		return fmt.Errorf("--params: %w", err)
	}
	if !*asJSON {
		if p.HasMultiPrefix() {
			kind := "HBA-only"
			if p.PublicKeyIncluded() {
				kind = "CGA-compatible"
			}
			fmt.Fprintf(stdout, "# HBA set of %d prefixes, %s: %v\n", len(p.Prefixes()), kind, p.Prefixes())
		} else {
			fmt.Fprintf(stdout, "# CGA parameters without Multi-Prefix: checking each address as their CGA (RFC 3972 §5)\n")
		}
	}
	failed := 0
	for _, s := range addrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("%q is not an IPv6 address", s)
		}
		method := "hba"
		if p.HasMultiPrefix() {
			err = p.VerifyHBA(a)
		} else {
			method = "cga"
			err = p.VerifyCGA(a)
		}
		if err != nil {
			failed++
		}
		if *asJSON {
			o := hbaVerifyOut{Address: a.String(), Method: method, Verified: err == nil}
			if err != nil {
				o.Reason, o.Detail = err.(hba.Reason).String(), err.Error()
			}
			if err := jsonLine(stdout, o); err != nil {
				return err
			}
			continue
		}
		switch {
		case err == nil && method == "hba":
			fmt.Fprintf(stdout, "%s\tin set (RFC 5535 §7.2)\n", a)
		case err == nil:
			fmt.Fprintf(stdout, "%s\tis the CGA of these parameters (RFC 3972 §5)\n", a)
		case method == "hba":
			fmt.Fprintf(stdout, "%s\tnot in set: %v\n", a, err)
		default:
			fmt.Fprintf(stdout, "%s\tnot their CGA: %v\n", a, err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d addresses did not verify", failed, len(addrs))
	}
	return nil
}
