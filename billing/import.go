package billing

// Bulk import of events for backfills: a file of events, one JSON object a line (NDJSON), checked
// line by line with the same rules as ingest (DecodeEvent) and stored with the same semantics.

// ImportOptions says how an import treats bad lines and how it is cut into transactions.
type ImportOptions struct {
	// AllOrNothing refuses the whole import when any line is rejected: nothing is stored.
	// Without it, rejected lines are reported and skipped, and the rest is stored.
	AllOrNothing bool
	// ChunkSize is how many lines are read and validated at once (0: DefaultImportChunk).
	ChunkSize int
	// Writers is how many connections store a chunk, each its share of the chunk's tasks in a
	// transaction of its own (0: a default for the machine; an all-or-nothing import always uses
	// one).
	Writers int
	// MaxErrors is how many rejected lines are reported in detail (0: DefaultImportErrors).
	MaxErrors int
}

// Defaults of ImportOptions.
const (
	DefaultImportChunk  = 50_000
	DefaultImportErrors = 100
)

// ImportError is a rejected line: its number (from 1), the event's id when it could be read,
// and why.
type ImportError struct {
	Line int
	ID   string
	Err  *Error
}

// ImportResult counts what happened to an import's events. Blank lines are not events and are
// not counted.
type ImportResult struct {
	Lines     int // events read
	Accepted  int
	Duplicate int
	Rejected  int
	// Errors are the first MaxErrors rejected lines, in line order within each chunk.
	Errors []ImportError
	// Refused is set when an all-or-nothing import stored nothing because lines were rejected;
	// Accepted is then 0.
	Refused bool
}
