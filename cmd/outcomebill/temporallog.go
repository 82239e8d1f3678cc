package main

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/log"
)

// newTemporalLogger sends the Temporal SDK's logs to our slog logger, at warn and above only: its
// info lines (every poll, every worker start) drown what matters.
func newTemporalLogger(l *slog.Logger) log.Logger {
	return log.NewStructuredLogger(slog.New(&minLevel{h: l.Handler(), min: slog.LevelWarn}))
}

type minLevel struct {
	h   slog.Handler
	min slog.Level
}

func (m *minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}
func (m *minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }
func (m *minLevel) WithAttrs(a []slog.Attr) slog.Handler            { return &minLevel{m.h.WithAttrs(a), m.min} }
func (m *minLevel) WithGroup(n string) slog.Handler                 { return &minLevel{m.h.WithGroup(n), m.min} }
