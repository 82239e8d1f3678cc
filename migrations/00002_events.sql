-- +goose Up
-- Events as the vendor sent them, the outbox that carries them to their task's workflow, and one
-- row per task that the workflow keeps current. An event and its outbox row are written in one
-- transaction, so an acknowledged event always reaches its workflow, even if Temporal was down.

CREATE TABLE tasks (
    task_id      text PRIMARY KEY,
    customer_id  text        NOT NULL REFERENCES customers (id),
    status       text        NOT NULL DEFAULT 'open',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tasks_customer ON tasks (customer_id);

CREATE TABLE events (
    id                  text PRIMARY KEY,
    fingerprint         bytea       NOT NULL,
    type                text        NOT NULL,
    customer_id         text        NOT NULL REFERENCES customers (id),
    task_id             text        NOT NULL REFERENCES tasks (task_id),
    occurred_at         timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    body                jsonb       NOT NULL,
    -- task.usage: tokens of a model, costed with the price valid at occurred_at. cost_usd is NULL
    -- while no price covers the usage (unpriced); a later price row fills it in.
    model               text,
    input_tokens        bigint,
    cached_input_tokens bigint,
    cache_write_tokens  bigint,
    reasoning_tokens    bigint,
    output_tokens       bigint,
    cost_usd            numeric
);
CREATE INDEX events_task ON events (task_id, occurred_at);
CREATE INDEX events_unpriced ON events (model, occurred_at) WHERE type = 'task.usage' AND cost_usd IS NULL;

CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    event_id     text        NOT NULL REFERENCES events (id),
    task_id      text        NOT NULL,
    customer_id  text        NOT NULL,
    created_at   timestamptz NOT NULL,
    available_at timestamptz NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text
);
-- Undelivered rows only: delivered rows are deleted, so the relay's scan stays small however
-- many events have gone through.
CREATE INDEX outbox_available ON outbox (available_at, id);
