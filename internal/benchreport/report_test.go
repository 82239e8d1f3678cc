package benchreport

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var at = time.Date(2026, 11, 23, 22, 21, 0, 0, time.UTC)

// testdata/short is the raw output of a real `scripts/bench --short` run, as captured.
func TestShortRunReport(t *testing.T) {
	run, err := Load("testdata/short")
	if err != nil {
		t.Fatal(err)
	}
	block, err := run.Markdown(Options{At: at, Short: true, RawDir: "testdata/short"})
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "short.golden.md")
	if *update {
		if err := os.WriteFile(golden, []byte(block), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if block != string(want) {
		t.Errorf("report differs from %s (go test -update rewrites it):\n%s", golden, block)
	}
}

func TestFiguresOfTheShortRun(t *testing.T) {
	run, err := Load("testdata/short")
	if err != nil {
		t.Fatal(err)
	}
	byWhat := map[string]Figure{}
	for _, f := range run.Figures() {
		if len(f.Missing) > 0 {
			t.Errorf("%s: missing %v", f.What, f.Missing)
		}
		byWhat[f.What] = f
	}
	for _, c := range []struct {
		what        string
		ours, limit float64
		met         bool
	}{
		{"batch 100, 8 clients vs raw batch 100, 8 connections", 8787, 22467, false},
		{"single events, 8 clients vs raw single-row insert, 8 connections", 4311, 5104, true},
		{"resent batch 100, 1 client vs its first send", 23474, 5449, true},
		{"import of new events vs raw COPY then upsert", 8988, 42343, false},
		{"rating 10,000 tasks vs reading their rows raw", 147040, 613671, false},
		{"time to rate 1,000,000 outcomes (at the rate of 10,000 tasks) vs 4 s", 1e6 / 147040, 4, false},
		{"task workflows through outbox + relay + worker vs trivial start-signal-complete", 37.9, 46.8, true},
		{"margin of one customer's month, p95, vs 10 ms", 4.944, 10, true},
	} {
		f, ok := byWhat[c.what]
		if !ok {
			t.Errorf("no figure %q", c.what)
			continue
		}
		if !near(f.Ours, c.ours) || !near(f.Limit, c.limit) || f.Met() != c.met {
			t.Errorf("%s: ours %v limit %v met %v, want %v %v %v", c.what, f.Ours, f.Limit, f.Met(), c.ours, c.limit, c.met)
		}
	}
}

func near(a, b float64) bool { return a > b*0.999 && a < b*1.001 }

// Medians over -count runs, per unit as printed, whatever the GOMAXPROCS suffix.
func TestMedianOverCountRuns(t *testing.T) {
	run := newRun()
	out := `goos: linux
pkg: github.com/outcomebill/outcomebill/postgres
BenchmarkIngest/batch=100/clients=1-2   	     100	  4800000 ns/op	     20700 events/s
BenchmarkIngest/batch=100/clients=1-2   	     100	  4900000 ns/op	     20900 events/s
    ingest_bench_test.go:42: a log line
BenchmarkIngest/batch=100/clients=1-2   	     100	  9000000 ns/op	     11000 events/s
BenchmarkInvoiceScale/tasks=1000000/draft-8  1  17000000000 ns/op  58823 outcomes/s  0.5 peak-heap-MB  180000 B/op  3600 allocs/op
BenchmarkIngest/batch=1/clients=8
PASS
ok  	github.com/outcomebill/outcomebill/postgres	20.1s
`
	if err := run.addOutput("ingest.txt", []byte(out)); err != nil {
		t.Fatal(err)
	}
	if v, ok := run.value("Ingest/batch=100/clients=1", "events/s"); !ok || v != 20700 {
		t.Errorf("median events/s = %v %v, want 20700", v, ok)
	}
	if v, ok := run.value("Ingest/batch=100/clients=1", "ns/op"); !ok || v != 4900000 {
		t.Errorf("median ns/op = %v %v, want 4900000", v, ok)
	}
	if v, ok := run.value("InvoiceScale/tasks=1000000/draft", "peak-heap-MB"); !ok || v != 0.5 {
		t.Errorf("peak-heap-MB = %v %v, want 0.5", v, ok)
	}
	if _, ok := run.value("Ingest/batch=1/clients=8", "events/s"); ok {
		t.Error("a benchmark's start line (go test -v) counted as a result")
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median of an even count = %v, want 2.5", got)
	}
}

// A figure with a goal that the output lacks fails the report; the report is still written, the
// figure marked missing. One without a goal (re-import, which the short run leaves out) does not.
func TestMissingFigures(t *testing.T) {
	run, err := Load("testdata/short")
	if err != nil {
		t.Fatal(err)
	}
	delete(run.bench["ImportVsRaw"], "dup-events/s")
	if _, err := run.Markdown(Options{At: at}); err != nil {
		t.Errorf("re-import left out: %v, want no error", err)
	}
	delete(run.bench, "Margin")
	run.throughput = map[string]float64{}
	block, err := run.Markdown(Options{At: at})
	if !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "BenchmarkMargin p95-ms") ||
		!strings.Contains(err.Error(), "THROUGHPUT tasks_per_s") {
		t.Errorf("error = %v, want the missing margin and Temporal figures", err)
	}
	if !strings.Contains(block, "missing: BenchmarkMargin p95-ms") || !strings.HasSuffix(block, EndMarker+"\n") {
		t.Errorf("block does not show the missing figure or is cut short:\n%s", block)
	}
}

func TestSplice(t *testing.T) {
	doc := "# Benchmarks\n\nintro\n\n" + BeginMarker + "\nold\n" + EndMarker + "\n\n## Analysis\n\nkept\n"
	got, err := Splice(doc, BeginMarker+"\nnew\n"+EndMarker+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "# Benchmarks\n\nintro\n\n" + BeginMarker + "\nnew\n" + EndMarker + "\n\n## Analysis\n\nkept\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	for _, bad := range []string{"no markers\n", EndMarker + "\n" + BeginMarker + "\n", doc + doc} {
		if _, err := Splice(bad, "x"); err == nil {
			t.Errorf("Splice(%q) succeeded", bad)
		}
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{1234567.4: "1,234,567", 20700: "20,700", 125.9: "126", 46.8: "46.8", 8: "8",
		0.5: "0.50", 0.0324: "0.032", -1500: "-1,500"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}
