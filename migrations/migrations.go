// Package migrations holds the forward-only SQL migrations of outcomebill's PostgreSQL schema,
// embedded into the binary so that `outcomebill migrate` needs no files beside it. Migrations are
// never edited once landed: a change is a new file with the next number.
package migrations

import "embed"

// FS holds every migration, named NNNNN_what.sql in goose's format.
//
//go:embed *.sql
var FS embed.FS
