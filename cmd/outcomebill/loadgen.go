package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// loadgenConfig is what `outcomebill loadgen` is told on its command line.
type loadgenConfig struct {
	url       string
	key       string
	events    int           // distinct events to generate, resends not counted
	batch     int           // events per request
	clients   int           // requests in flight at once
	duration  time.Duration // stop then even if events are left
	dupRate   float64       // share of batches sent a second time, unchanged
	oooRate   float64       // share of tasks whose events are sent shuffled
	setup     bool          // create the customers and outcome types first (admin scope)
	customers int
	seed      uint64
	retries   int // further attempts of a request that failed with a transport error or a 5xx
}

func newLoadgenCmd() *cobra.Command {
	var cfg loadgenConfig
	cmd := &cobra.Command{
		Use:   "loadgen",
		Short: "Send realistic agent traffic to a running API on this machine and report throughput",
		Long: `Sends tasks' events to POST /v1/events from --clients concurrent clients, in batches of
--batch: each task a task.started, one to four task.usage events across catalog models (some a
non-token cost), and an outcome (about 70% succeeded, 10% partial, 12% failed, 8% escalated;
some disputed later, a few cancelled instead). Clients interleave the events of up to 16 open
tasks, as agents running side by side do. --dup-rate of the batches are sent twice unchanged
(a client retrying after a lost response) and --out-of-order-rate of the tasks have their events
shuffled. It stops after --events events or --duration, whichever comes first, and prints
events/s, requests/s, latency percentiles and the accepted/duplicate/rejected counts.

Only loopback URLs are accepted: this is a tool for measuring your own machine.`,
		Example: "  outcomebill loadgen --url http://127.0.0.1:8080 --key $KEY --setup --events 100000 --batch 100 --clients 8",
		RunE: func(cmd *cobra.Command, _ []string) error {
			rep, err := runLoadgen(cmd.Context(), cfg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			rep.print(cmd.OutOrStdout())
			if rep.errors > 0 {
				return fmt.Errorf("loadgen: %d requests failed", rep.errors)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.url, "url", envOr("OUTCOMEBILL_URL", "http://127.0.0.1:8080"), "API base URL, loopback only (env OUTCOMEBILL_URL)")
	f.StringVar(&cfg.key, "key", os.Getenv("OUTCOMEBILL_API_KEY"), "API key with the ingest scope, and admin for --setup (env OUTCOMEBILL_API_KEY)")
	f.IntVar(&cfg.events, "events", 10_000, "distinct events to send")
	f.IntVar(&cfg.batch, "batch", 100, "events per request (1–1000)")
	f.IntVar(&cfg.clients, "clients", 4, "concurrent clients")
	f.DurationVar(&cfg.duration, "duration", time.Minute, "stop after this long even if events are left")
	f.Float64Var(&cfg.dupRate, "dup-rate", 0.02, "share of batches sent twice")
	f.Float64Var(&cfg.oooRate, "out-of-order-rate", 0.1, "share of tasks whose events are sent in shuffled order")
	f.BoolVar(&cfg.setup, "setup", false, "create the customers and outcome types first (needs the admin scope)")
	f.IntVar(&cfg.customers, "customers", 5, "customers the tasks are spread over")
	f.Uint64Var(&cfg.seed, "seed", 0, "random seed; 0 picks one")
	f.IntVar(&cfg.retries, "retries", 2, "further attempts of a request that failed with a 5xx or a transport error")
	return cmd
}

func (c *loadgenConfig) validate() error {
	switch {
	case c.key == "":
		return errors.New("loadgen: no API key: pass --key or set OUTCOMEBILL_API_KEY")
	case c.events < 1:
		return errors.New("loadgen: --events must be at least 1")
	case c.batch < 1 || c.batch > 1000:
		return errors.New("loadgen: --batch must be 1 to 1000")
	case c.clients < 1 || c.clients > 256:
		return errors.New("loadgen: --clients must be 1 to 256")
	case c.duration <= 0:
		return errors.New("loadgen: --duration must be positive")
	case c.dupRate < 0 || c.dupRate > 1 || c.oooRate < 0 || c.oooRate > 1:
		return errors.New("loadgen: --dup-rate and --out-of-order-rate must be between 0 and 1")
	case c.customers < 1:
		return errors.New("loadgen: --customers must be at least 1")
	}
	return nil
}

// loopbackURL parses raw and refuses anything that does not resolve to loopback addresses only.
func loopbackURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("loadgen: --url %q is not an http(s) URL", raw)
	}
	host := u.Hostname()
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("loadgen: --url host %q: %w", host, err)
		}
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return nil, fmt.Errorf("loadgen: --url %q is not on this machine (%s is not a loopback address); loadgen only targets loopback", raw, ip)
		}
	}
	return u, nil
}

// loopbackClient is an HTTP client that cannot connect anywhere but loopback, redirects included.
func loopbackClient(conns int) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("loadgen: refusing to connect to %s: not a loopback address", address)
		}
		return nil
	}}
	return &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: dialer.DialContext, MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}
}

type loadgenReport struct {
	elapsed                       time.Duration
	requests, resent              int64
	eventsSent                    int64 // events in requests that got a 200, resends included
	accepted, duplicate, rejected int64
	errors                        int64
	firstErrors                   []string
	latencies                     []time.Duration // of requests that got an answer, sorted
}

func (r *loadgenReport) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
}

func (r *loadgenReport) print(w io.Writer) {
	s := r.elapsed.Seconds()
	fmt.Fprintf(w, "loadgen report\n")
	fmt.Fprintf(w, "  duration    %.2fs\n", s)
	fmt.Fprintf(w, "  requests    %d (%.1f req/s), %d of them resent batches\n", r.requests, float64(r.requests)/s, r.resent)
	fmt.Fprintf(w, "  events      %d (%.0f events/s)\n", r.eventsSent, float64(r.eventsSent)/s)
	fmt.Fprintf(w, "  accepted    %d\n  duplicate   %d\n  rejected    %d\n  errors      %d\n", r.accepted, r.duplicate, r.rejected, r.errors)
	fmt.Fprintf(w, "  latency     p50 %s  p95 %s  p99 %s  max %s\n", ms(r.percentile(0.50)), ms(r.percentile(0.95)),
		ms(r.percentile(0.99)), ms(r.percentile(1)))
	for _, e := range r.firstErrors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 1, 64) + "ms" }

// loadgen is one run: its configuration, its counters and the work shared by its clients.
type loadgen struct {
	cfg    loadgenConfig
	base   *url.URL
	http   *http.Client
	prefix string
	budget atomic.Int64 // events left to generate

	requests, resent, eventsSent, accepted, duplicate, rejected, errs atomic.Int64

	mu          sync.Mutex
	latencies   []time.Duration
	firstErrors []string
}

func runLoadgen(ctx context.Context, cfg loadgenConfig, progress io.Writer) (*loadgenReport, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base, err := loopbackURL(ctx, cfg.url)
	if err != nil {
		return nil, err
	}
	if cfg.seed == 0 {
		cfg.seed = rand.Uint64()
	}
	lg := &loadgen{cfg: cfg, base: base, http: loopbackClient(cfg.clients),
		prefix: "lg" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	lg.budget.Store(int64(cfg.events))
	if cfg.setup {
		if err := lg.setupCatalog(ctx); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	start := time.Now()
	stopProgress := lg.reportProgress(progress, start)
	var wg sync.WaitGroup
	for c := range cfg.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lg.client(ctx, c)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	slices.Sort(lg.latencies)
	return &loadgenReport{elapsed: elapsed, requests: lg.requests.Load(), resent: lg.resent.Load(),
		eventsSent: lg.eventsSent.Load(), accepted: lg.accepted.Load(), duplicate: lg.duplicate.Load(),
		rejected: lg.rejected.Load(), errors: lg.errs.Load(), firstErrors: lg.firstErrors, latencies: lg.latencies}, nil
}

func (lg *loadgen) customerID(i int) string { return fmt.Sprintf("loadgen-%d", i+1) }

var loadgenOutcomeTypes = []struct {
	key           string
	minutes       string
	disputeWindow int
}{
	{"support.ticket_resolved", "12", 0},
	{"sales.lead_qualified", "20", 60},
	{"code.pr_merged", "45", 300},
}

// setupCatalog creates the customers and outcome types through the admin API; both calls are
// idempotent, so a second run reuses them.
func (lg *loadgen) setupCatalog(ctx context.Context) error {
	for i := range lg.cfg.customers {
		body := map[string]any{"customer_id": lg.customerID(i), "name": "Loadgen customer " + strconv.Itoa(i+1), "currency": "USD"}
		if err := lg.admin(ctx, "POST", "/v1/customers", body); err != nil {
			return err
		}
	}
	for _, ot := range loadgenOutcomeTypes {
		body := map[string]any{"name": ot.key, "dispute_window_seconds": ot.disputeWindow,
			"baseline": map[string]any{"human_minutes": ot.minutes, "annual_cost": map[string]any{"amount": "94000", "currency": "USD"}}}
		if err := lg.admin(ctx, "PUT", "/v1/outcome-types/"+ot.key, body); err != nil {
			return err
		}
	}
	return nil
}

func (lg *loadgen) admin(ctx context.Context, method, path string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	status, resp, err := lg.do(ctx, method, path, raw)
	if err != nil {
		return fmt.Errorf("loadgen: setup %s %s: %w", method, path, err)
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return fmt.Errorf("loadgen: setup %s %s: %d %s", method, path, status, bytes.TrimSpace(resp))
	}
	return nil
}

func (lg *loadgen) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, lg.base.JoinPath(path).String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+lg.cfg.key)
	res, err := lg.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, b, err
}

// client sends batches until the event budget is spent or ctx ends.
func (lg *loadgen) client(ctx context.Context, n int) {
	g := &taskGen{lg: lg, rnd: rand.New(rand.NewPCG(lg.cfg.seed, uint64(n))), name: fmt.Sprintf("%s-c%d", lg.prefix, n)}
	for ctx.Err() == nil {
		batch := g.batch(lg.cfg.batch)
		if len(batch) == 0 {
			return
		}
		body, err := json.Marshal(map[string]any{"events": batch})
		if err != nil {
			lg.fail(err.Error())
			return
		}
		if !lg.send(ctx, body, len(batch)) {
			continue
		}
		if g.rnd.Float64() < lg.cfg.dupRate {
			lg.resent.Add(1)
			lg.send(ctx, body, len(batch))
		}
	}
}

// send posts one batch, retrying transport errors and 5xx, and counts the results.
func (lg *loadgen) send(ctx context.Context, body []byte, n int) bool {
	for attempt := 0; ; attempt++ {
		lg.requests.Add(1)
		start := time.Now()
		status, resp, err := lg.do(ctx, "POST", "/v1/events", body)
		took := time.Since(start)
		if ctx.Err() != nil {
			lg.requests.Add(-1) // cut short by the deadline: not a result
			return false
		}
		if err == nil {
			lg.mu.Lock()
			lg.latencies = append(lg.latencies, took)
			lg.mu.Unlock()
		}
		if err == nil && status == http.StatusOK {
			var out struct {
				Results []struct {
					Status string `json:"status"`
				} `json:"results"`
			}
			if err := json.Unmarshal(resp, &out); err != nil || len(out.Results) != n {
				lg.fail(fmt.Sprintf("unexpected answer to a batch of %d: %.200s", n, resp))
				return false
			}
			lg.eventsSent.Add(int64(n))
			for _, r := range out.Results {
				switch r.Status {
				case "accepted":
					lg.accepted.Add(1)
				case "duplicate":
					lg.duplicate.Add(1)
				default:
					lg.rejected.Add(1)
				}
			}
			return true
		}
		msg := ""
		if err != nil {
			msg = err.Error()
		} else {
			msg = fmt.Sprintf("%d %.200s", status, bytes.TrimSpace(resp))
		}
		if (err == nil && status < 500) || attempt >= lg.cfg.retries {
			lg.fail(msg)
			return false
		}
		time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
	}
}

func (lg *loadgen) fail(msg string) {
	lg.errs.Add(1)
	lg.mu.Lock()
	if len(lg.firstErrors) < 5 {
		lg.firstErrors = append(lg.firstErrors, msg)
	}
	lg.mu.Unlock()
}

// reportProgress writes a progress line every second (rewritten in place on a terminal) until
// the returned function is called.
func (lg *loadgen) reportProgress(w io.Writer, start time.Time) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	go func() {
		defer close(finished)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		last, lastAt := int64(0), start
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintln(w)
				}
				return
			case now := <-tick.C:
				sent := lg.eventsSent.Load()
				line := fmt.Sprintf("loadgen %5.0fs  %d/%d events  %6.0f events/s  %d requests  %d errors",
					now.Sub(start).Seconds(), lg.cfg.events-int(lg.budget.Load()), lg.cfg.events,
					float64(sent-last)/now.Sub(lastAt).Seconds(), lg.requests.Load(), lg.errs.Load())
				last, lastAt = sent, now
				if tty {
					fmt.Fprintf(w, "\r%s ", line)
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// taskGen is one client's stream of events: it keeps up to openTasks tasks going and draws each
// event from one of them at random, so that a batch mixes tasks and a task spans batches.
type taskGen struct {
	lg    *loadgen
	rnd   *rand.Rand
	name  string
	tasks int
	open  [][]map[string]any
}

const openTasks = 16

var loadgenModels = []string{"gpt-4.1-mini", "gpt-5-mini", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-2.5-flash", "o4-mini"}

func (g *taskGen) batch(n int) []map[string]any {
	var out []map[string]any
	for len(out) < n {
		for len(g.open) < openTasks {
			t := g.newTask()
			if t == nil {
				break
			}
			g.open = append(g.open, t)
		}
		if len(g.open) == 0 {
			break
		}
		i := g.rnd.IntN(len(g.open))
		out = append(out, g.open[i][0])
		if g.open[i] = g.open[i][1:]; len(g.open[i]) == 0 {
			g.open = slices.Delete(g.open, i, i+1)
		}
	}
	return out
}

// newTask returns the events of a new task in the order they are sent, or nil when the event
// budget is spent. A task takes its events from the budget whole, so none is cut short.
func (g *taskGen) newTask() []map[string]any {
	r := g.rnd
	g.tasks++
	task := fmt.Sprintf("%s-t%d", g.name, g.tasks)
	customer := g.lg.customerID(r.IntN(g.lg.cfg.customers))
	ot := loadgenOutcomeTypes[r.IntN(len(loadgenOutcomeTypes))]
	// Started a few minutes ago, so that every event lies in the past however long the run is.
	at := time.Now().Add(-10 * time.Minute)
	var evs []map[string]any
	add := func(typ string, d time.Duration, fields map[string]any) {
		e := map[string]any{"id": fmt.Sprintf("%s-e%d", task, len(evs)), "type": typ, "customer_id": customer,
			"task_id": task, "occurred_at": at.Add(d).UTC().Format(time.RFC3339Nano)}
		for k, v := range fields {
			e[k] = v
		}
		evs = append(evs, e)
	}
	started := map[string]any{"outcome_type": ot.key, "metadata": map[string]any{"ref": fmt.Sprintf("T-%d", r.IntN(1_000_000))}}
	if r.IntN(10) == 0 {
		started["priority"] = "urgent"
	}
	add("task.started", 0, started)
	for u := range 1 + r.IntN(4) {
		d := time.Duration(u+1) * 15 * time.Second
		if r.IntN(8) == 0 {
			add("task.usage", d, map[string]any{"cost": fmt.Sprintf("0.%04d", 1+r.IntN(200)), "description": "web search"})
			continue
		}
		usage := map[string]any{"model": loadgenModels[r.IntN(len(loadgenModels))],
			"input_tokens": 500 + r.IntN(20_000), "output_tokens": 50 + r.IntN(2_000)}
		if r.IntN(2) == 0 {
			usage["cached_input_tokens"] = r.IntN(10_000)
		}
		add("task.usage", d, usage)
	}
	end := 2 * time.Minute
	switch p := r.IntN(100); {
	case p < 1:
		add("task.cancelled", end, nil)
	default:
		status := "succeeded"
		switch {
		case p >= 71 && p < 81:
			status = "partial"
		case p >= 81 && p < 93:
			status = "failed"
		case p >= 93:
			status = "escalated"
		}
		outcome := map[string]any{"status": status}
		if status == "succeeded" || status == "partial" {
			outcome["quality"] = float64(60+r.IntN(41)) / 100
			outcome["evidence"] = "https://tickets.example.com/" + task
		}
		add("task.outcome", end, outcome)
		if status == "succeeded" && r.IntN(25) == 0 {
			add("task.disputed", end+time.Minute, map[string]any{"reason": "customer reopened the ticket"})
		}
	}
	if g.lg.budget.Add(-int64(len(evs))) < 0 {
		// Not enough budget left for the whole task: the tail of the budget is simply unused.
		g.lg.budget.Add(int64(len(evs)))
		return nil
	}
	if r.Float64() < g.lg.cfg.oooRate {
		r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	}
	return evs
}
