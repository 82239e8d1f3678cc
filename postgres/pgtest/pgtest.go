// Package pgtest gives each test its own freshly migrated PostgreSQL database on the server named
// by OUTCOMEBILL_TEST_DATABASE_URL (which scripts/test provides), so tests are
// isolated from each other and may run in parallel, commit, and run concurrent transactions.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/outcomebill/outcomebill/internal/servicetest"
	"github.com/outcomebill/outcomebill/postgres"
)

// URL returns the test server's admin URL (see servicetest for when a missing one skips).
func URL(t testing.TB) string { return servicetest.DatabaseURL(t) }

// NewDB creates a database, migrates it, seeds the model catalog, and drops it when the test ends.
func NewDB(t testing.TB) *postgres.DB {
	t.Helper()
	db, _ := NewDBURL(t)
	return db
}

// NewDBURL is NewDB that also returns the new database's URL, for code under test that opens its
// own connections (the API server, a worker).
func NewDBURL(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	db, dbURL := NewEmptyDBURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := postgres.Migrate(ctx, db.Pool, nil); err != nil {
		t.Fatalf("pgtest: migrate: %v", err)
	}
	if err := db.SeedModelCatalog(ctx); err != nil {
		t.Fatalf("pgtest: seed catalog: %v", err)
	}
	return db, dbURL
}

// NewEmptyDBURL creates a database without migrating it, for tests of a migration itself, and
// drops it when the test ends.
func NewEmptyDBURL(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	admin := URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("pgtest: OUTCOMEBILL_TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	db, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: open: %v", err)
	}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(ctx)
		}
	})
	return db, dbURL
}
