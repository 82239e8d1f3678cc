// Package benchreport turns the raw output of scripts/bench into the generated part of
// docs/BENCHMARKS.md: the machine, the settings and commands of the run, and every figure next to
// the limit measured in the same run (or the bound its goal sets), with the ratio and the goal.
//
// It reads `go test -bench` output through golang.org/x/perf/benchfmt, the format's own parser,
// plus the two line formats of this repository's measurements that are not benchmarks: the
// THROUGHPUT line of workflows.TestTemporalThroughput and the report of `outcomebill loadgen`.
// It imports no outcomebill package.
package benchreport

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
)

// Run is the raw output of one scripts/bench run.
type Run struct {
	// Machine and Settings are "key: value" lines, in the order written.
	Machine, Settings []KV
	// Commands are the commands the run ran, in order.
	Commands []string
	// bench holds every benchmark's values: name (without "Benchmark" and the GOMAXPROCS suffix)
	// → unit as printed → one value per -count run.
	bench map[string]map[string][]float64
	// throughput is the THROUGHPUT line's key=value pairs.
	throughput map[string]float64
	// loadgen is each loadgen report's figures, by the file's name ("batch100").
	loadgen map[string]map[string]string
}

// KV is one "key: value" line.
type KV struct{ Key, Value string }

// Load reads the raw output directory of scripts/bench: machine.txt, settings.txt and
// commands.txt, and every other *.txt as measurement output.
func Load(dir string) (*Run, error) {
	r := newRun()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		switch {
		case name == "machine":
			r.Machine = parseKV(raw)
		case name == "settings":
			r.Settings = parseKV(raw)
		case name == "commands":
			for _, l := range strings.Split(string(raw), "\n") {
				if l = strings.TrimSpace(l); l != "" {
					r.Commands = append(r.Commands, l)
				}
			}
		case strings.HasPrefix(name, "loadgen-"):
			r.loadgen[strings.TrimPrefix(name, "loadgen-")] = parseLoadgen(raw)
		default:
			if err := r.addOutput(f, raw); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

func newRun() *Run {
	return &Run{bench: map[string]map[string][]float64{}, throughput: map[string]float64{}, loadgen: map[string]map[string]string{}}
}

func parseKV(raw []byte) []KV {
	var kvs []KV
	for _, l := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) != "" {
			kvs = append(kvs, KV{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return kvs
}

// addOutput takes the benchmark results and the THROUGHPUT line of one file of test output.
// Lines that are neither (test logs, PASS, ok) are skipped, as benchfmt skips them.
func (r *Run) addOutput(fileName string, raw []byte) error {
	br := benchfmt.NewReader(bytes.NewReader(raw), fileName)
	for br.Scan() {
		res, ok := br.Result().(*benchfmt.Result)
		if !ok {
			continue // a syntax error (a log line that starts like a benchmark) or unit metadata
		}
		name := benchName(res.Name)
		if r.bench[name] == nil {
			r.bench[name] = map[string][]float64{}
		}
		for _, v := range res.Values {
			// The unit as printed: benchfmt tidies ns/op into sec/op, MB into B.
			val, unit := v.Value, v.Unit
			if v.OrigUnit != "" {
				val, unit = v.OrigValue, v.OrigUnit
			}
			r.bench[name][unit] = append(r.bench[name][unit], val)
		}
	}
	if err := br.Err(); err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "THROUGHPUT ")
		if !ok {
			continue
		}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%s: THROUGHPUT %s: %w", fileName, kv, err)
			}
			r.throughput[k] = f
		}
	}
	return sc.Err()
}

// benchName is the benchmark's full name without its GOMAXPROCS suffix ("-2").
func benchName(n benchfmt.Name) string {
	base, parts := n.Parts()
	var b strings.Builder
	b.Write(base)
	for _, p := range parts {
		if len(p) > 0 && p[0] == '-' {
			continue
		}
		b.Write(p)
	}
	return b.String()
}

var loadgenLine = regexp.MustCompile(`^\s+(events|requests|accepted|duplicate|rejected|errors|latency)\s+(.*)$`)

// parseLoadgen keeps the figures of a loadgen report: events (and events/s), requests, the
// counts, latency.
func parseLoadgen(raw []byte) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(string(raw), "\n") {
		if g := loadgenLine.FindStringSubmatch(l); g != nil {
			m[g[1]] = strings.Join(strings.Fields(g[2]), " ")
		}
	}
	return m
}

// value is the median of a benchmark's values in unit over the -count runs; ok is false when the
// benchmark or the unit is missing.
func (r *Run) value(name, unit string) (float64, bool) {
	vs := r.bench[name][unit]
	if len(vs) == 0 {
		return 0, false
	}
	return median(vs), true
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// names returns the benchmarks whose names start with prefix, sorted.
func (r *Run) names(prefix string) []string {
	var out []string
	for n := range r.bench {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
