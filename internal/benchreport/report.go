package benchreport

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The generated block of docs/BENCHMARKS.md lies between these lines; everything outside them is
// written by hand and kept.
const (
	BeginMarker = "<!-- bench:begin -->"
	EndMarker   = "<!-- bench:end -->"
)

// ErrMissing is wrapped by the error of Run.Markdown when figures are missing from the raw output.
var ErrMissing = errors.New("figures missing from the raw output")

// Options say how the block is titled.
type Options struct {
	// At is when the run ended.
	At time.Time
	// Short marks a run of scripts/bench --short: small counts, figures that only show every step
	// runs.
	Short bool
	// RawDir is where the raw output was, as the reader should see it.
	RawDir string
}

// Markdown renders the run as the generated block, markers included. It returns an error wrapping
// ErrMissing, along with the block, when a figure could not be computed: the output of a
// benchmark changed its name or metrics, or a step did not run.
func (r *Run) Markdown(o Options) (string, error) {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("%s\n", BeginMarker)
	p("<!-- Written by scripts/bench (cmd/benchreport); edit the script, not this block: the next run replaces it. -->\n\n")
	p("**Run of %s.**\n\n", o.At.UTC().Format("2006-01-02 15:04 MST"))
	if o.Short {
		p("**Short mode** (`scripts/bench --short`): small counts and single iterations, to show that every step runs; " +
			"the figures say nothing about performance.\n\n")
	}
	p("| machine | |\n|---|---|\n")
	for _, kv := range r.Machine {
		p("| %s | %s |\n", cell(kv.Key), cell(kv.Value))
	}
	if len(r.Settings) > 0 {
		p("\n| setting | |\n|---|---|\n")
		for _, kv := range r.Settings {
			p("| %s | %s |\n", cell(kv.Key), cell(kv.Value))
		}
	}
	p("\nCommands, in the order run (raw output in `%s`):\n\n", o.RawDir)
	for _, c := range r.Commands {
		p("    %s\n", c)
	}

	figs := r.Figures()
	var missing []string
	p("\nEvery figure against its limit: ratio = ours / limit, both from this run (medians over `-count` runs); " +
		"a limit in ms or s is the goal's fixed bound.\n\n")
	p("| figure | unit | ours | limit | ratio | goal | result |\n|---|---|---:|---:|---:|---|---|\n")
	group := ""
	for _, f := range figs {
		if f.Group != group {
			group = f.Group
			p("| **%s** | | | | | | |\n", cell(group))
		}
		if len(f.Missing) > 0 {
			// A figure without a goal may be left out of a run (the short run leaves out
			// re-import); one with a goal may not.
			if f.Goal.set() {
				missing = append(missing, f.Missing...)
			}
			p("| %s | %s | — | — | — | %s | missing: %s |\n", cell(f.What), f.Unit, f.Goal, cell(strings.Join(f.Missing, ", ")))
			continue
		}
		verdict := ""
		if f.Goal.set() {
			verdict = "met"
			if !f.Met() {
				verdict = "**missed**"
			}
		}
		p("| %s | %s | %s | %s | %s | %s | %s |\n", cell(f.What), f.Unit, num(f.Ours), num(f.Limit), ratio(f.Ratio()), f.Goal, verdict)
	}

	p("\nOther figures of the run:\n\n| figure | value |\n|---|---|\n")
	for _, kv := range r.otherFigures() {
		p("| %s | %s |\n", cell(kv.Key), cell(kv.Value))
	}
	p("\n%s\n", EndMarker)
	if len(missing) > 0 {
		return b.String(), fmt.Errorf("%w: %s", ErrMissing, strings.Join(missing, "; "))
	}
	return b.String(), nil
}

// otherFigures are the figures without a goal: what the invoice run costs at each size, the
// economics reads' percentiles, Temporal's history sizes and outbox lag, loadgen, pricing.
func (r *Run) otherFigures() []KV {
	var out []KV
	add := func(k, v string) { out = append(out, KV{k, v}) }
	for _, n := range r.scaleSizes() {
		for _, step := range []struct{ name, what string }{{"rate", "rate (RatePeriod)"}, {"draft", "rate and write the draft (BuildDraft)"}} {
			name := fmt.Sprintf("InvoiceScale/tasks=%d/%s", n, step.name)
			sec, ok1 := r.value(name, "ns/op")
			heap, ok2 := r.value(name, "peak-heap-MB")
			allocs, _ := r.value(name, "B/op")
			if ok1 && ok2 {
				add(fmt.Sprintf("%s tasks: %s", count(n), step.what),
					fmt.Sprintf("%s s, peak Go heap +%s MB, %s MB allocated", num(sec/1e9), num(heap), num(allocs/1e6)))
			}
		}
	}
	for _, e := range []struct{ name, what string }{
		{"Margin", "margin, one customer's month"},
		{"LaborEquivalent", "labor equivalent, one customer's month and its 6-period trend"},
		{"ModelEconomics", "model economics, the vendor's month"},
		{"MarginPending", "margin with 100 of the month's tasks waiting for the folder"},
	} {
		p50, ok := r.value(e.name, "p50-ms")
		if !ok {
			continue
		}
		p95, _ := r.value(e.name, "p95-ms")
		p99, _ := r.value(e.name, "p99-ms")
		v := fmt.Sprintf("p50 / p95 / p99 %s / %s / %s ms", num(p50), num(p95), num(p99))
		if all, ok := r.value(e.name, "all-customers-ms"); ok {
			v += fmt.Sprintf("; every customer: %s ms", num(all))
		}
		add(e.what, v)
	}
	if t := r.throughput; len(t) > 0 {
		add("Temporal history events: trivial / task, start and outcome in one signal / apart",
			fmt.Sprintf("%s / %s / %s", num(t["history_trivial"]), num(t["history_task_one_signal"]), num(t["history_task_two_signals"])))
		add(fmt.Sprintf("outbox lag at %s tasks/s (event committed → signal accepted)", num(t["paced_per_s"])),
			fmt.Sprintf("p50 / p95 / p99 %s / %s / %s ms", num(t["lag_p50_ms"]), num(t["lag_p95_ms"]), num(t["lag_p99_ms"])))
	}
	for _, k := range []string{"batch100", "batch1"} {
		if m := r.loadgen[k]; len(m) > 0 {
			add("loadgen over HTTP, "+strings.Replace(k, "batch", "batch ", 1),
				fmt.Sprintf("events %s; requests %s; latency %s; accepted %s, duplicate %s, rejected %s, errors %s",
					m["events"], m["requests"], m["latency"], m["accepted"], m["duplicate"], m["rejected"], m["errors"]))
		}
	}
	for _, n := range r.names("") {
		if !strings.HasPrefix(n, "Rate") && !strings.HasPrefix(n, "BareDecimal") {
			continue
		}
		ns, ok := r.value(n, "ns/op")
		if !ok || strings.HasPrefix(n, "RatePeriod") {
			continue
		}
		v := fmt.Sprintf("%s ns/op", num(ns))
		if bop, ok := r.value(n, "B/op"); ok {
			allocs, _ := r.value(n, "allocs/op")
			v += fmt.Sprintf(", %s B/op, %s allocs/op", num(bop), num(allocs))
		}
		add("pricing: "+n, v)
	}
	return out
}

// num writes a figure with thousands separators and as many decimals as its size deserves.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	a := math.Abs(v)
	var s string
	switch {
	case a >= 100 || a == math.Trunc(a):
		s = strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	case a >= 10:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 0.1 || a == 0:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		s = strconv.FormatFloat(v, 'g', 2, 64)
	}
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	if len(intPart) > 3 && !strings.ContainsAny(intPart, "e") {
		var b strings.Builder
		for i, c := range intPart {
			if i > 0 && (len(intPart)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		intPart = b.String()
	}
	if neg {
		intPart = "-" + intPart
	}
	if frac != "" {
		return intPart + "." + frac
	}
	return intPart
}

func ratio(r float64) string {
	if math.IsNaN(r) {
		return "—"
	}
	return strconv.FormatFloat(r, 'f', 2, 64)
}

// cell keeps a value from breaking its Markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Splice replaces the block between BeginMarker and EndMarker in doc (both lines included) with
// block, which carries the markers itself, and keeps the rest of doc as it is.
func Splice(doc, block string) (string, error) {
	i := strings.Index(doc, BeginMarker)
	j := strings.Index(doc, EndMarker)
	if i < 0 || j < 0 || j < i {
		return "", errors.New("benchreport: the document has no " + BeginMarker + " … " + EndMarker + " block")
	}
	if strings.Count(doc, BeginMarker) != 1 || strings.Count(doc, EndMarker) != 1 {
		return "", errors.New("benchreport: the document has more than one generated block")
	}
	end := j + len(EndMarker)
	if end < len(doc) && doc[end] == '\n' {
		end++
	}
	return doc[:i] + block + doc[end:], nil
}
