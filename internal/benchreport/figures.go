package benchreport

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
)

// A Figure is one measured value next to what it is judged against: a limit measured in the same
// run (the raw insert rate of the same PostgreSQL, a trivial workflow on the same Temporal), or a
// fixed bound (4 s, 10 ms). Ratio is Ours / Limit; Goal, when set, is the bound on the ratio.
type Figure struct {
	Group, What string
	// Unit of Ours and Limit.
	Unit        string
	Ours, Limit float64
	Goal        Goal
	// Missing names what the run's output lacked for this figure; Ours and Limit are then not set.
	Missing []string
}

// Goal bounds a figure's ratio: at least Ratio (AtLeast) or at most Ratio. The zero Goal is none.
type Goal struct {
	AtLeast bool
	Ratio   float64
}

func (g Goal) set() bool { return g.Ratio != 0 }

func (g Goal) String() string {
	if !g.set() {
		return ""
	}
	r := strconv.FormatFloat(g.Ratio, 'g', -1, 64)
	if g.AtLeast {
		return "≥ " + r
	}
	return "≤ " + r
}

// Ratio is Ours / Limit, NaN when either is missing or the limit is 0.
func (f Figure) Ratio() float64 {
	if len(f.Missing) > 0 || f.Limit == 0 {
		return math.NaN()
	}
	return f.Ours / f.Limit
}

// Met reports whether the figure reaches its goal; figures without a goal never are.
func (f Figure) Met() bool {
	r := f.Ratio()
	if !f.Goal.set() || math.IsNaN(r) {
		return false
	}
	if f.Goal.AtLeast {
		return r >= f.Goal.Ratio
	}
	return r <= f.Goal.Ratio
}

// measured is one value of the run: a benchmark's median in a unit, or a THROUGHPUT key.
type measured struct {
	name, unit string // unit "" means name is a THROUGHPUT key
}

func (r *Run) get(m measured) (float64, bool) {
	if m.unit == "" {
		v, ok := r.throughput[m.name]
		return v, ok
	}
	return r.value(m.name, m.unit)
}

func (m measured) String() string {
	if m.unit == "" {
		return "THROUGHPUT " + m.name
	}
	return "Benchmark" + m.name + " " + m.unit
}

// figure builds a Figure from two measured values (limit's unit "fixed" means limit.name holds
// the bound itself).
func (r *Run) figure(group, what, unit string, ours, limit measured, goal Goal) Figure {
	f := Figure{Group: group, What: what, Unit: unit, Goal: goal}
	var ok bool
	if f.Ours, ok = r.get(ours); !ok {
		f.Missing = append(f.Missing, ours.String())
	}
	if limit.unit == "fixed" {
		f.Limit, _ = strconv.ParseFloat(limit.name, 64)
	} else if f.Limit, ok = r.get(limit); !ok {
		f.Missing = append(f.Missing, limit.String())
	}
	return f
}

func bench(name, unit string) measured { return measured{name, unit} }
func fixed(v float64) measured         { return measured{strconv.FormatFloat(v, 'g', -1, 64), "fixed"} }
func throughput(key string) measured   { return measured{key, ""} }

// Figures are the run's figures against their limits and goals, in the order of the report.
func (r *Run) Figures() []Figure {
	const ingest, single, dups, imp, rating, temporal, econ = "Ingest, batched", "Ingest, single events", "Ingest, resent duplicates",
		"Bulk import", "Rating and invoices", "Temporal", "Economics reads"
	eps := "events/s"
	atLeast := func(x float64) Goal { return Goal{AtLeast: true, Ratio: x} }
	// Ingest and its yardstick come from BenchmarkIngestVsRaw, which alternates phases of the two
	// on one server so that other load on the machine weighs on both alike: ratios of rates
	// measured minutes apart moved by ±50% on a shared machine.
	vsRaw := func(group, what, sub string, goal Goal) Figure {
		return r.figure(group, what, eps, bench("IngestVsRaw/"+sub, eps), bench("IngestVsRaw/"+sub, "raw-events/s"), goal)
	}
	figs := []Figure{
		vsRaw(ingest, "batch 100, 1 client vs raw batch 100, 1 connection", "batch=100/clients=1", atLeast(0.5)),
		vsRaw(ingest, "batch 100, 8 clients vs raw batch 100, 8 connections", "batch=100/clients=8", atLeast(0.5)),
		vsRaw(ingest, "batch 1,000, 1 client vs raw batch 1,000, 1 connection", "batch=1000/clients=1", atLeast(0.5)),
		vsRaw(single, "single events, 8 clients vs raw single-row insert, 8 connections", "batch=1/clients=8", atLeast(0.6)),
	}
	for _, c := range []struct{ name, what string }{
		{"IngestDuplicates/batch=100/clients=1", "resent batch 100, 1 client vs its first send"},
		{"IngestDuplicates/batch=100/clients=8", "resent batch 100, 8 clients vs its first send"},
		{"IngestDuplicates/batch=1/clients=8", "resent single events, 8 clients vs their first send"},
	} {
		figs = append(figs, r.figure(dups, c.what, eps, bench(c.name, eps), bench(c.name, "first-events/s"), atLeast(0.9)))
	}
	figs = append(figs,
		// BenchmarkImportVsRaw alternates the import and its yardstick, as for ingest.
		r.figure(imp, "import of new events vs raw COPY then upsert", eps,
			bench("ImportVsRaw", eps), bench("ImportVsRaw", "raw-events/s"), atLeast(0.6)),
		r.figure(imp, "re-import, every line a duplicate, vs raw COPY then upsert", eps,
			bench("ImportVsRaw", "dup-events/s"), bench("ImportVsRaw", "raw-events/s"), Goal{}),
	)
	figs = append(figs, r.ratingFigures(rating)...)
	figs = append(figs,
		r.figure(temporal, "task workflows through outbox + relay + worker vs trivial start-signal-complete", "workflows/s",
			throughput("tasks_per_s"), throughput("trivial_per_s"), atLeast(0.5)),
		r.figure(econ, "margin of one customer's month, p95, vs 10 ms", "ms",
			bench("Margin", "p95-ms"), fixed(10), Goal{Ratio: 1}),
	)
	return figs
}

var scaleSize = regexp.MustCompile(`^InvoiceScale/tasks=(\d+)/rate$`)

// scaleSizes are the task counts BenchmarkInvoiceScale ran, ascending.
func (r *Run) scaleSizes() []int {
	var sizes []int
	for _, n := range r.names("InvoiceScale/") {
		if m := scaleSize.FindStringSubmatch(n); m != nil {
			k, _ := strconv.Atoi(m[1])
			sizes = append(sizes, k)
		}
	}
	sort.Ints(sizes)
	return sizes
}

// flatHeapFloorMB is the least peak the memory goal compares with: below it, the heap's peak is
// the pool's and the runtime's own churn, and a ratio of two such small numbers says nothing
// about growth with tasks.
const flatHeapFloorMB = 1.0

func (r *Run) ratingFigures(group string) []Figure {
	sizes := r.scaleSizes()
	if len(sizes) == 0 {
		return []Figure{{Group: group, What: "rating vs raw row read", Missing: []string{"BenchmarkInvoiceScale/tasks=*/rate"}}}
	}
	scale := func(n int, step string) string { return fmt.Sprintf("InvoiceScale/tasks=%d/%s", n, step) }
	var figs []Figure
	for _, n := range sizes {
		figs = append(figs, r.figure(group, fmt.Sprintf("rating %s tasks vs reading their rows raw", count(n)), "outcomes/s",
			bench(scale(n, "rate"), "outcomes/s"), bench(scale(n, "read"), "rows/s"), Goal{AtLeast: true, Ratio: 0.25}))
	}
	large, small := sizes[len(sizes)-1], sizes[0]
	f := r.figure(group, fmt.Sprintf("time to rate 1,000,000 outcomes (at the rate of %s tasks) vs 4 s", count(large)), "s",
		bench(scale(large, "rate"), "outcomes/s"), fixed(4), Goal{Ratio: 1})
	if len(f.Missing) == 0 {
		f.Ours = 1e6 / f.Ours
	}
	figs = append(figs, f)
	if large != small {
		for _, step := range []string{"rate", "draft"} {
			f := r.figure(group, fmt.Sprintf("peak Go heap, %s: %s tasks vs %s (or %s MB if more)", step, count(large), count(small), num(flatHeapFloorMB)),
				"MB", bench(scale(large, step), "peak-heap-MB"), bench(scale(small, step), "peak-heap-MB"), Goal{Ratio: 2})
			f.Limit = max(f.Limit, flatHeapFloorMB)
			figs = append(figs, f)
		}
	}
	return figs
}

// count writes n with thousands separators.
func count(n int) string { return num(float64(n)) }
