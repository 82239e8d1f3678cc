-- +goose Up
-- Customers, outcome types with labor baselines, model prices and API keys: the ground every
-- other table stands on. Amounts are numeric (exact), never float; currencies are ISO 4217 codes.

CREATE TABLE customers (
    id                 text PRIMARY KEY,
    name               text        NOT NULL,
    currency           char(3)     NOT NULL,
    timezone           text        NOT NULL,
    billing_anchor_day smallint    NOT NULL CHECK (billing_anchor_day BETWEEN 1 AND 28),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE outcome_types (
    key                    text PRIMARY KEY,
    name                   text        NOT NULL,
    description            text        NOT NULL DEFAULT '',
    human_minutes          numeric     NOT NULL CHECK (human_minutes > 0),
    annual_cost            numeric     NOT NULL CHECK (annual_cost >= 0),
    annual_cost_currency   char(3)     NOT NULL,
    productive_hours       numeric     NOT NULL CHECK (productive_hours > 0),
    dispute_window_seconds bigint      NOT NULL CHECK (dispute_window_seconds >= 0),
    task_timeout_seconds   bigint      NOT NULL CHECK (task_timeout_seconds > 0),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);

-- A customer's own labor figures for one outcome type win over the outcome type's.
CREATE TABLE baseline_overrides (
    customer_id          text        NOT NULL REFERENCES customers (id),
    outcome_type         text        NOT NULL REFERENCES outcome_types (key),
    human_minutes        numeric     NOT NULL CHECK (human_minutes > 0),
    annual_cost          numeric     NOT NULL CHECK (annual_cost >= 0),
    annual_cost_currency char(3)     NOT NULL,
    productive_hours     numeric     NOT NULL CHECK (productive_hours > 0),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, outcome_type)
);

-- Effective-dated USD prices per million tokens. Rows are never updated: a price change is a new
-- row, so a task is always costed with the price valid when its usage occurred. Vendor rows win
-- over catalog rows wherever a vendor row covers the time.
CREATE TABLE model_prices (
    id                    bigserial PRIMARY KEY,
    model                 text        NOT NULL,
    effective_from        timestamptz NOT NULL,
    input_per_mtok        numeric     NOT NULL CHECK (input_per_mtok >= 0),
    cached_input_per_mtok numeric     NOT NULL CHECK (cached_input_per_mtok >= 0),
    cache_write_per_mtok  numeric     NOT NULL CHECK (cache_write_per_mtok >= 0),
    output_per_mtok       numeric     NOT NULL CHECK (output_per_mtok >= 0),
    reasoning_per_mtok    numeric CHECK (reasoning_per_mtok >= 0),
    source                text        NOT NULL DEFAULT '',
    as_of                 date,
    origin                text        NOT NULL CHECK (origin IN ('catalog', 'vendor')),
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (model, origin, effective_from)
);

-- API keys: only a SHA-256 of the secret is kept. The id is the public half of the key and is
-- what logs and the API show.
CREATE TABLE api_keys (
    id           text PRIMARY KEY,
    name         text        NOT NULL,
    scopes       text[]      NOT NULL,
    customer_id  text REFERENCES customers (id),
    secret_hash  bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CHECK (('viewer' = ANY (scopes)) = (customer_id IS NOT NULL))
);
