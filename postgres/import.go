package postgres

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/outcomebill/outcomebill/billing"
)

// maxImportLine is the longest line an import reads; an event is at most about 16 KiB (8 KiB of
// metadata and a few free-text fields), so a longer line is a broken file, reported and skipped.
const maxImportLine = 1 << 20

// importChunk is a chunk of lines read and validated, ready to be stored.
type importChunk struct {
	events []billing.IncomingEvent
	lines  []int                 // line number of each of events
	bad    []billing.ImportError // lines DecodeEvent rejected, in line order
	err    error                 // reading failed; nothing after it
}

// ImportEvents reads events from r, one JSON object a line, and stores them with the semantics of
// IngestEvents: each line is checked with billing.DecodeEvent, then chunks of opt.ChunkSize lines
// are stored with IngestEvents' statement (ingestStatement). A line repeating a stored event is a
// duplicate; one reusing a stored id with another body, naming an unknown customer or outcome type
// or a task of another customer is rejected, as in IngestEvents. Each part of a chunk (below) is
// one transaction, so an import cut short keeps what was stored before the cut and importing the
// file again completes it;
// with opt.AllOrNothing the whole import is one transaction, rolled back if any line is rejected.
//
// Reading and validating (on all CPUs) overlaps storing. Each chunk is cut by task into
// opt.Writers parts, stored at once, each in a transaction on a connection of its own; all lines
// of a task go to the same connection in file order, so the first line that names a new task
// decides its owner, as in a sequential import, and a line of a task owned by another customer
// is rejected whichever chunk it is in.
func (db *DB) ImportEvents(ctx context.Context, r io.Reader, opt billing.ImportOptions) (billing.ImportResult, error) {
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = billing.DefaultImportChunk
	}
	if opt.MaxErrors <= 0 {
		opt.MaxErrors = billing.DefaultImportErrors
	}
	if opt.Writers <= 0 {
		opt.Writers = min(max(runtime.GOMAXPROCS(0), 2), 4)
	}
	if opt.AllOrNothing {
		opt.Writers = 1 // one transaction
	}
	var res billing.ImportResult
	conns := make([]*pgxpool.Conn, opt.Writers)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Release() // a connection left mid-transaction is closed, not reused
			}
		}
	}()
	for i := range conns {
		c, err := db.Pool.Acquire(ctx)
		if err != nil {
			return res, fmt.Errorf("import: %w", err)
		}
		conns[i] = c
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan importChunk, 1)
	go readChunks(ctx, r, opt.ChunkSize, db.Now(), chunks)

	var aon pgx.Tx // the one transaction of an all-or-nothing import
	if opt.AllOrNothing {
		var err error
		if aon, err = conns[0].Begin(ctx); err != nil {
			return res, fmt.Errorf("import: %w", err)
		}
		defer func() { _ = aon.Rollback(context.Background()) }()
	}

	// Each chunk is cut by task among the writers, and writer k stores part k of every chunk, in
	// file order. A task's lines thus go through one connection, in the order of the file: the
	// first line of a new task names its owner, as in a sequential import, and no writer ever waits
	// on another. Cut by position instead, a task spanning two chunks made the second chunk's
	// claim wait on the first chunk's uncommitted row: the writers took turns, a third of the
	// machine idle (docs/BENCHMARKS.md). Chunks are taken back in file order, so that counts and
	// errors read like a sequential import.
	type job struct {
		ch    importChunk
		parts []*importPart
	}
	writers := len(conns)
	feeds := make([]chan *importPart, writers)
	order := make(chan *job, writers)
	var refused atomic.Bool // all or nothing, and a line was rejected: stop writing
	var wg sync.WaitGroup
	for w, c := range conns {
		feeds[w] = make(chan *importPart, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range feeds[w] {
				switch {
				case len(p.events) == 0 || refused.Load():
				case aon != nil:
					p.results, p.err = db.importChunk(ctx, aon, p.events)
				default:
					p.results, p.err = db.importChunkTx(ctx, c, p.events)
				}
				close(p.done)
			}
		}()
	}
	go func() {
		defer close(order)
		defer func() {
			for _, f := range feeds {
				close(f)
			}
		}()
		for ch := range chunks {
			if opt.AllOrNothing && len(ch.bad) > 0 {
				refused.Store(true)
			}
			j := &job{ch: ch, parts: splitByTask(ch.events, writers)}
			if ch.err != nil {
				for _, p := range j.parts {
					close(p.done)
				}
				order <- j
				return
			}
			select {
			case order <- j:
			case <-ctx.Done():
				return
			}
			for w, p := range j.parts {
				select {
				case feeds[w] <- p:
				case <-ctx.Done():
					for _, p := range j.parts[w:] {
						close(p.done)
					}
					return
				}
			}
		}
	}()
	defer func() {
		cancel() // unblocks the dispatcher and the writers when returning early
		wg.Wait()
	}()

	addError := func(e billing.ImportError) {
		res.Rejected++
		if len(res.Errors) < opt.MaxErrors {
			res.Errors = append(res.Errors, e)
		}
	}
	for j := range order {
		ch := j.ch
		if ch.err != nil {
			return res, fmt.Errorf("import: read after line %d: %w", res.Lines, ch.err)
		}
		// A part not stored (an all-or-nothing import already refused) has no results.
		results := make([]billing.IngestResult, len(ch.events))
		stored := make([]bool, len(ch.events))
		for _, p := range j.parts {
			<-p.done
			if p.err != nil {
				return res, fmt.Errorf("import: lines %d to %d: %w", ch.lines[p.at[0]], ch.lines[p.at[len(p.at)-1]], p.err)
			}
			for k, r := range p.results {
				results[p.at[k]], stored[p.at[k]] = r, true
			}
		}
		res.Lines += len(ch.events) + len(ch.bad)
		if len(ch.bad) > 0 && opt.AllOrNothing {
			res.Refused = true
		}
		// Errors in line order: the decoding ones and the store's merged.
		b := 0
		for k, r := range results {
			if !stored[k] {
				continue
			}
			for ; b < len(ch.bad) && ch.bad[b].Line < ch.lines[k]; b++ {
				addError(ch.bad[b])
			}
			switch r.Status {
			case billing.IngestAccepted:
				res.Accepted++
			case billing.IngestDuplicate:
				res.Duplicate++
			default:
				addError(billing.ImportError{Line: ch.lines[k], ID: r.ID, Err: r.Err})
				if opt.AllOrNothing {
					res.Refused = true
					refused.Store(true)
				}
			}
		}
		for ; b < len(ch.bad); b++ {
			addError(ch.bad[b])
		}
	}
	if opt.AllOrNothing {
		if res.Refused {
			res.Accepted = 0
			return res, nil // the deferred rollback discards everything
		}
		if err := aon.Commit(ctx); err != nil {
			return res, fmt.Errorf("import: commit: %w", err)
		}
	}
	return res, nil
}

// splitByTask cuts a chunk's events into n parts by task (FNV-1a of task_id), each in chunk order,
// with each event's index in the chunk. Empty parts are kept, so part k always goes to writer k.
func splitByTask(events []billing.IncomingEvent, n int) []*importPart {
	parts := make([]*importPart, n)
	for w := range parts {
		parts[w] = &importPart{done: make(chan struct{})}
	}
	for k, e := range events {
		w := 0
		if n > 1 {
			h := fnv.New32a()
			_, _ = h.Write([]byte(e.Event.TaskID))
			w = int(h.Sum32() % uint32(n))
		}
		parts[w].events = append(parts[w].events, e)
		parts[w].at = append(parts[w].at, k)
	}
	return parts
}

// importPart is the share of a chunk that one writer stores, and what came of it.
type importPart struct {
	events  []billing.IncomingEvent
	at      []int // index in the chunk of each of events
	results []billing.IngestResult
	err     error
	done    chan struct{}
}

// importChunkTx stores a chunk in a transaction of its own, run again on a deadlock.
func (db *DB) importChunkTx(ctx context.Context, conn *pgxpool.Conn, batch []billing.IncomingEvent) ([]billing.IngestResult, error) {
	for attempt := 1; ; attempt++ {
		var results []billing.IngestResult
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			var err error
			results, err = db.importChunk(ctx, tx, batch)
			return err
		})
		if err == nil || attempt == 3 || !retryable(err) {
			return results, err
		}
	}
}

// importChunk stores a chunk with the statement of IngestEvents (ingestStatement), in tx, so that
// an import stores exactly what IngestEvents would (TestImportMixedFile compares the two). The
// statement gets the generic plan that runIngest gives it, made without sequential scans: a
// connection keeps its plan, and one made while the tables were nearly empty (the first chunk of
// a backfill into a new database) scanned event_keys and tasks whole for every event instead of
// probing their keys — re-importing 200,000 events took 5 minutes instead of 3 seconds until
// statistics caught up (TestStorePathsProbeIndexesWhateverTheStatisticsWhenPlanned). Custom plans
// avoid that too, but were a quarter slower than this one. Sorts of a chunk fit in 64 MB instead
// of spilling to disk, and JIT compiling a statement this simple costs more than it saves.
func (db *DB) importChunk(ctx context.Context, tx pgx.Tx, batch []billing.IncomingEvent) ([]billing.IngestResult, error) {
	if _, err := tx.Exec(ctx, ingestPlanSQL+`; SET LOCAL work_mem = '64MB'; SET LOCAL jit = off`); err != nil {
		return nil, err
	}
	results, candidates := newResults(batch)
	err := settleEvents(batch, results, candidates, func(rows []int, read func(pgx.Rows) error) error {
		r, err := tx.Query(ctx, ingestArraysSQL, ingestArgs(batch, rows, db.Now().UTC())...)
		if err != nil {
			return err
		}
		return read(r)
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// readChunks reads r line by line and sends chunks of up to size events, validated, to out; it
// closes out at the end of r, on a read error (sent as the last chunk) or when ctx is done.
func readChunks(ctx context.Context, r io.Reader, size int, now time.Time, out chan<- importChunk) {
	defer close(out)
	br := bufio.NewReaderSize(r, 256<<10)
	line := 0
	for {
		// Lines are appended to one slab per chunk and sliced once it is complete: one allocation
		// for the chunk's bodies rather than one per line.
		var slab []byte
		var spans [][2]int
		var nums []int
		var bad []billing.ImportError
		var readErr error
		for len(spans) < size {
			raw, err := readLine(br)
			if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errLineTooLong) {
				readErr = err
				break
			}
			if raw != nil || errors.Is(err, errLineTooLong) {
				line++
			}
			if errors.Is(err, errLineTooLong) {
				bad = append(bad, billing.ImportError{Line: line, Err: billing.Invalid("", "line is longer than %d bytes", maxImportLine)})
				continue
			}
			if t := bytes.TrimSpace(raw); len(t) > 0 {
				spans = append(spans, [2]int{len(slab), len(slab) + len(t)})
				slab = append(slab, t...)
				nums = append(nums, line)
			}
			if errors.Is(err, io.EOF) {
				readErr = io.EOF
				break
			}
		}
		ch := decodeChunk(slab, spans, nums, now)
		ch.bad = mergeBad(bad, ch.bad)
		if readErr != nil && !errors.Is(readErr, io.EOF) {
			// What was read before the error is not stored: a truncated upload must not leave a
			// half-read last line behind, and the client is told to send the file again.
			ch = importChunk{err: readErr}
		}
		if len(ch.events) > 0 || len(ch.bad) > 0 || ch.err != nil {
			select {
			case out <- ch:
			case <-ctx.Done():
				return
			}
		}
		if readErr != nil {
			return
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its newline; nil and io.EOF at the end. A line longer
// than maxImportLine is skipped and reported as errLineTooLong.
func readLine(br *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(buf)+len(frag) > maxImportLine {
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = br.ReadSlice('\n')
				}
				if err != nil && !errors.Is(err, io.EOF) {
					return nil, err
				}
				return nil, errLineTooLong
			}
			buf = append(buf, frag...)
			continue
		}
		if buf != nil {
			frag = append(buf, frag...)
		}
		if err != nil {
			if len(frag) == 0 {
				return nil, err
			}
			return frag, err
		}
		return frag, nil
	}
}

// decodeChunk validates the lines of a chunk on all CPUs: DecodeEvent parses each event twice
// (checking, then fingerprinting), which is most of an import's CPU time.
func decodeChunk(slab []byte, spans [][2]int, nums []int, now time.Time) importChunk {
	n := len(spans)
	evs := make([]billing.IncomingEvent, n)
	errs := make([]error, n)
	workers := min(runtime.GOMAXPROCS(0), max(1, n/1000))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := w; k < n; k += workers {
				raw := slab[spans[k][0]:spans[k][1]:spans[k][1]]
				e, err := billing.DecodeEvent(raw, now)
				evs[k], errs[k] = billing.IncomingEvent{Event: e, Body: raw}, err
			}
		}()
	}
	wg.Wait()
	ch := importChunk{events: evs[:0], lines: make([]int, 0, n)}
	for k := range n {
		if errs[k] != nil {
			var be *billing.Error
			if !errors.As(errs[k], &be) {
				be = billing.Invalid("", "%s", errs[k].Error())
			}
			raw := slab[spans[k][0]:spans[k][1]]
			ch.bad = append(ch.bad, billing.ImportError{Line: nums[k], ID: peekEventID(raw), Err: be})
			continue
		}
		ch.events = append(ch.events, evs[k])
		ch.lines = append(ch.lines, nums[k])
	}
	return ch
}

// mergeBad merges two lists of rejected lines, each in line order.
func mergeBad(a, b []billing.ImportError) []billing.ImportError {
	if len(a) == 0 {
		return b
	}
	out := append(a, b...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}

// peekEventID finds the id of a line that failed validation, so that its error can name it.
func peekEventID(raw []byte) string {
	var v struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	id, _ := v.ID.(string)
	if !billing.ValidID(id) {
		return ""
	}
	return id
}
