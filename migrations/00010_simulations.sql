-- +goose Up
-- What-if repricing (issue 9): one row per simulation, written by the API (the request, once
-- validated) and by the simulation's workflow through its activities (status and progress), and
-- one row per customer and billing period it rated. Simulations never touch invoices.
CREATE TABLE simulations (
    id             text PRIMARY KEY,  -- also the workflow ID
    request        jsonb       NOT NULL,
    model_costs    jsonb       NOT NULL DEFAULT '{}', -- the observed costs model_mix re-costs with
    status         text        NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    periods_total  integer     NOT NULL,
    periods_done   integer     NOT NULL DEFAULT 0,
    error          text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE simulation_results (
    simulation_id  text        NOT NULL REFERENCES simulations (id) ON DELETE CASCADE,
    customer_id    text        NOT NULL REFERENCES customers (id),
    period_start   timestamptz NOT NULL,
    period_end     timestamptz NOT NULL,
    result         jsonb       NOT NULL,
    PRIMARY KEY (simulation_id, customer_id, period_start)
);
