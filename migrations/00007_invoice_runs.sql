-- +goose Up
-- One row per invoice run (customer and period), written by the run's workflow through its
-- activities, so that the API shows a run's progress without asking Temporal.
CREATE TABLE invoice_runs (
    id            text PRIMARY KEY,            -- the run's workflow ID: customer and period
    customer_id   text        NOT NULL REFERENCES customers (id),
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    status        text        NOT NULL CHECK (status IN ('queued', 'running', 'drafted', 'finalized', 'failed')),
    tasks_total   bigint      NOT NULL DEFAULT 0,
    tasks_rated   bigint      NOT NULL DEFAULT 0,
    invoice_id    text,
    credit_notes  text[]      NOT NULL DEFAULT '{}',
    error         text        NOT NULL DEFAULT '',
    runs          integer     NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, period_start, period_end)
);
CREATE INDEX invoice_runs_customer ON invoice_runs (customer_id, period_start DESC);
