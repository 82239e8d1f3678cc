// Command benchreport writes the generated block of docs/BENCHMARKS.md from the raw output of
// scripts/bench, which runs it last:
//
//	go run ./cmd/benchreport -raw .outcomebill/bench -doc docs/BENCHMARKS.md
//
// It replaces what lies between the document's <!-- bench:begin --> and <!-- bench:end --> lines
// and keeps the rest, prints the block, and fails when a figure could not be computed from the raw
// output (a benchmark renamed, a metric dropped, a step that did not run), after writing the
// report with those figures marked missing. It is a development tool, not part of outcomebill.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/outcomebill/outcomebill/internal/benchreport"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

func run() error {
	raw := flag.String("raw", ".outcomebill/bench", "`directory` of scripts/bench's raw output")
	doc := flag.String("doc", "docs/BENCHMARKS.md", "the `document` whose generated block is replaced")
	out := flag.String("out", "", "write the document here instead of over -doc (`file`)")
	short := flag.Bool("short", false, "mark the report as a short-mode run")
	flag.Parse()
	if *out == "" {
		*out = *doc
	}
	run, err := benchreport.Load(*raw)
	if err != nil {
		return err
	}
	block, missing := run.Markdown(benchreport.Options{At: time.Now(), Short: *short, RawDir: *raw})
	text, err := os.ReadFile(*doc)
	if err != nil {
		return err
	}
	spliced, err := benchreport.Splice(string(text), block)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, []byte(spliced), 0o644); err != nil {
		return err
	}
	fmt.Print(block)
	fmt.Printf("written to %s\n", *out)
	return missing
}
