package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/outcomebill/outcomebill/billing"
	"github.com/outcomebill/outcomebill/postgres"
)

// importReport is what an import prints: the API's answer, or the same built from the store's.
type importReport struct {
	Lines     int                `json:"lines"`
	Accepted  int                `json:"accepted"`
	Duplicate int                `json:"duplicate"`
	Rejected  int                `json:"rejected"`
	Refused   bool               `json:"refused"`
	Errors    []importLineReport `json:"errors"`
}

type importLineReport struct {
	Line    int    `json:"line"`
	ID      string `json:"id"`
	Code    string `json:"code"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

func newImportCmd() *cobra.Command {
	var (
		cfg          config
		apiURL, key  string
		allOrNothing bool
		chunk        int
	)
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import a backfill of events from an NDJSON file (one event a line; - for stdin)",
		Long: `Imports events from FILE, one JSON object a line, as POST /v1/events would take them one by one:
every line is checked with the same rules, invalid lines are reported with their line number and
skipped (or, with --all-or-nothing, the whole import stores nothing), and the rest is stored in
chunks with the same duplicate and conflict rules. Importing the same file again accepts nothing
new, so an import that was cut short is completed by running it again.

With --url and --key the file is streamed to POST /v1/events/import of a running server (key with
the ingest scope); with --database-url it is imported straight into the database.`,
		Example: "  outcomebill import --url https://billing.example.com --key $KEY events.ndjson\n" +
			"  outcomebill import --database-url $OUTCOMEBILL_DATABASE_URL --all-or-nothing events.ndjson",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := io.Reader(os.Stdin)
			var size int64 = -1
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					size = st.Size()
				}
				in = f
			}
			var rep importReport
			var err error
			switch {
			case cfg.databaseURL != "" && apiURL != "":
				return fmt.Errorf("pass either --url (through the API) or --database-url (straight into the database), not both")
			case cfg.databaseURL != "":
				rep, err = importDirect(cmd, cfg.databaseURL, in, billing.ImportOptions{AllOrNothing: allOrNothing, ChunkSize: chunk})
			case apiURL != "":
				rep, err = importHTTP(cmd, apiURL, key, in, size, allOrNothing)
			default:
				return fmt.Errorf("nowhere to import to: pass --url and --key, or --database-url")
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "lines %d: accepted %d, duplicate %d, rejected %d\n", rep.Lines, rep.Accepted, rep.Duplicate, rep.Rejected)
			for _, e := range rep.Errors {
				id := ""
				if e.ID != "" {
					id = " " + e.ID
				}
				field := ""
				if e.Field != "" {
					field = " " + e.Field
				}
				fmt.Fprintf(out, "  line %d%s: %s%s: %s\n", e.Line, id, e.Code, field, e.Message)
			}
			if n := rep.Rejected - len(rep.Errors); n > 0 {
				fmt.Fprintf(out, "  … and %d more rejected lines\n", n)
			}
			switch {
			case rep.Refused:
				return fmt.Errorf("import refused: %d lines rejected, nothing stored (--all-or-nothing)", rep.Rejected)
			case rep.Rejected > 0:
				return fmt.Errorf("%d of %d lines rejected; the others are stored", rep.Rejected, rep.Lines)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&apiURL, "url", os.Getenv("OUTCOMEBILL_URL"), "API base URL (env OUTCOMEBILL_URL)")
	f.StringVar(&key, "key", os.Getenv("OUTCOMEBILL_API_KEY"), "API key with the ingest scope (env OUTCOMEBILL_API_KEY)")
	f.StringVar(&cfg.databaseURL, "database-url", "", "import straight into this PostgreSQL instead of through the API")
	f.BoolVar(&allOrNothing, "all-or-nothing", false, "store nothing if any line is rejected")
	f.IntVar(&chunk, "chunk", billing.DefaultImportChunk, "lines read at once, split by task among the connections that store them, one transaction each (with --database-url)")
	return cmd
}

func importDirect(cmd *cobra.Command, dbURL string, in io.Reader, opt billing.ImportOptions) (importReport, error) {
	db, err := postgres.Open(cmd.Context(), dbURL)
	if err != nil {
		return importReport{}, err
	}
	defer db.Close()
	res, err := db.ImportEvents(cmd.Context(), in, opt)
	if err != nil {
		return importReport{}, err
	}
	rep := importReport{Lines: res.Lines, Accepted: res.Accepted, Duplicate: res.Duplicate, Rejected: res.Rejected, Refused: res.Refused}
	rep.Errors = make([]importLineReport, len(res.Errors))
	for i, e := range res.Errors {
		rep.Errors[i].Line, rep.Errors[i].ID = e.Line, e.ID
		rep.Errors[i].Code, rep.Errors[i].Field, rep.Errors[i].Message = e.Err.Code, e.Err.Field, e.Err.Message
	}
	return rep, nil
}

// importHTTP streams in as the request body: the file is never read into memory.
func importHTTP(cmd *cobra.Command, base, key string, in io.Reader, size int64, allOrNothing bool) (importReport, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/") + "/v1/events/import")
	if err != nil {
		return importReport{}, fmt.Errorf("--url: %w", err)
	}
	if allOrNothing {
		u.RawQuery = "all_or_nothing=true"
	}
	req, err := http.NewRequestWithContext(cmd.Context(), http.MethodPost, u.String(), in)
	if err != nil {
		return importReport{}, err
	}
	if size >= 0 {
		req.ContentLength = size
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return importReport{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return importReport{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return importReport{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var rep importReport
	if err := json.Unmarshal(body, &rep); err != nil {
		return importReport{}, fmt.Errorf("reading the answer: %w", err)
	}
	return rep, nil
}
