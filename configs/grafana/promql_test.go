package grafana

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// promqlWords are PromQL's keywords and aggregation operators: words that
// are never metric names. Functions need no list, since a function name is
// always followed by its parenthesis.
var promqlWords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true, "atan2": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
}

// promqlLabelLists are the keywords followed by a parenthesized list of
// label names, which are not metric names either.
var promqlLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names an expression selects, sorted and
// without repeats: the identifiers left once string literals, label
// matchers, ranges, numbers and durations, keywords, functions and the
// label lists of by/without/on/ignoring/group_* are set aside. A selector
// with no metric name ({__name__=...} or a bare {...}) is an error: what
// it matches cannot be checked.
func metricNames(expr string) ([]string, error) {
	var names []string
	s := expr
	nextNonSpace := func(i int) byte {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		if i < len(s) {
			return s[i]
		}
		return 0
	}
	// skipString returns the index after the literal opening at i.
	skipString := func(i int) (int, error) {
		q := s[i]
		for j := i + 1; j < len(s); j++ {
			if s[j] == '\\' && q != '`' {
				j++
				continue
			}
			if s[j] == q {
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string at %d", i)
	}
	// skipTo returns the index after the first close outside strings from i.
	skipTo := func(i int, close byte) (int, error) {
		for j := i; j < len(s); {
			switch c := s[j]; {
			case c == '"' || c == '\'' || c == '`':
				k, err := skipString(j)
				if err != nil {
					return 0, err
				}
				j = k
			case c == close:
				return j + 1, nil
			default:
				j++
			}
		}
		return 0, fmt.Errorf("no %q after %d", close, i)
	}
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	lastWasName := false
	depth := 0 // parentheses open
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(i)
			if err != nil {
				return nil, err
			}
			i, lastWasName = j, false
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '{':
			if !lastWasName {
				return nil, fmt.Errorf("selector without a metric name at %d: %s", i, s[i:])
			}
			j, err := skipTo(i+1, '}')
			if err != nil {
				return nil, err
			}
			i, lastWasName = j, false
		case c == '[':
			j, err := skipTo(i+1, ']')
			if err != nil {
				return nil, err
			}
			i, lastWasName = j, false
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			// Numbers and durations: 0.5, 1e3, 0x1f, 5m, 1h30m.
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
			lastWasName = false
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			next := nextNonSpace(j)
			i, lastWasName = j, false
			switch {
			case promqlLabelLists[strings.ToLower(word)]:
				if next == '(' {
					k := strings.IndexByte(s[j:], '(')
					end, err := skipTo(j+k+1, ')')
					if err != nil {
						return nil, err
					}
					i = end
				}
			case promqlWords[strings.ToLower(word)]:
			case next == '(':
				// A function.
			default:
				names = append(names, word)
				lastWasName = true
			}
		default:
			if c == '(' {
				depth++
			} else if c == ')' {
				if depth--; depth < 0 {
					return nil, fmt.Errorf("unbalanced ')' at %d", i)
				}
			}
			i++
			lastWasName = false
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("%d parentheses left open", depth)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// TestMetricNames holds the extraction to hand-written expectations, so
// that the exported-metric check cannot pass by reading nothing.
func TestMetricNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string // nil: an error
	}{
		{`up`, []string{"up"}},
		{`rate(shim6d_port_packets_total{instance=~"$instance", port="isp1"}[5m])`, []string{"shim6d_port_packets_total"}},
		{`sum by (instance, le) (rate(a_bucket[1m]))`, []string{"a_bucket"}},
		{`sum(rate(a[1m])) without (event) > 2 * clamp_min(b, 5)`, []string{"a", "b"}},
		{`a == 0 unless on(instance, uplink) b == 1`, []string{"a", "b"}},
		{`x / ignoring(kind) group_left(worker) y`, []string{"x", "y"}},
		{`a{l="}{[by(q)]"} offset 5m and bool b @ 1609746000`, []string{"a", "b"}},
		{`histogram_quantile(0.9, rate(h_bucket[$__rate_interval])) > .5`, []string{"h_bucket"}},
		{`label_replace(a, "dst", "$1", "src", "(.*)") # sum(b)` + "\n+ c", []string{"a", "c"}},
		{`max_over_time(a[30m:1m]) or vector(1)`, []string{"a"}},
		{`{__name__="a"}`, nil},
		{`rate(a[5m]`, nil},
		{`a{l="x}`, nil},
	} {
		got, err := metricNames(tc.expr)
		if tc.want == nil {
			if err == nil {
				t.Errorf("metricNames(%q) = %v, want an error", tc.expr, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("metricNames(%q) = %v, %v; want %v", tc.expr, got, err, tc.want)
		}
	}
}
