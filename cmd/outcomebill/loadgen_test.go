package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/outcomebill/outcomebill/api"
	"github.com/outcomebill/outcomebill/postgres/pgtest"
)

// A short loadgen run against the real API over a real database: every distinct event is
// accepted once and stored once, every resent one reported a duplicate, nothing rejected.
func TestLoadgenAgainstAPI(t *testing.T) {
	db := pgtest.NewDB(t)
	// Only the routes loadgen calls are wired: Temporal is not needed to ingest.
	srv := httptest.NewServer(api.New(api.Config{Customers: db, OutcomeTypes: db, ModelPrices: db, Keys: db, Events: db, Tasks: db,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}))
	defer srv.Close()
	_, key, err := db.CreateAPIKey(context.Background(), "loadgen", []string{"admin", "ingest"}, "")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := runLoadgen(context.Background(), loadgenConfig{url: srv.URL, key: key, events: 600, batch: 40, clients: 3,
		duration: time.Minute, dupRate: 0.3, oooRate: 0.3, setup: true, customers: 3, seed: 7, retries: 0}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.print(&out)
	t.Log("\n" + out.String())
	var stored int64
	if err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	switch {
	case rep.errors != 0 || rep.rejected != 0:
		t.Errorf("errors %d, rejected %d: %v", rep.errors, rep.rejected, rep.firstErrors)
	case rep.accepted < 580 || rep.accepted > 600:
		t.Errorf("accepted %d events, want about 600 (whole tasks only)", rep.accepted)
	case stored != rep.accepted:
		t.Errorf("accepted %d, stored %d", rep.accepted, stored)
	case rep.resent == 0 || rep.duplicate != rep.eventsSent-rep.accepted:
		t.Errorf("resent %d batches; %d duplicates of %d events sent", rep.resent, rep.duplicate, rep.eventsSent)
	}
}

func TestLoadgenRefusesOtherHosts(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:8080", "http://[2001:db8::1]/", "ftp://127.0.0.1/", "http://203.0.113.9"} {
		if _, err := loopbackURL(context.Background(), u); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://[::1]:80", "http://localhost:8080"} {
		if _, err := loopbackURL(context.Background(), u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}
