-- +goose Up
-- Plans and their immutable versions, customers' effective-dated subscriptions, prepaid credit
-- grants with what invoices drew from them, and USD exchange rates for cost_plus.

-- A plan's currency is fixed: subscriptions are checked against it, and a version in another
-- currency would silently break every customer on the plan.
CREATE TABLE plans (
    id         text PRIMARY KEY,
    currency   char(3)     NOT NULL,
    created_at timestamptz NOT NULL
);

-- Versions are never updated: an edit is a new row with the next number. fingerprint is a SHA-256
-- of the canonical content (name, currency, terms, prices) so that a resend of the same content
-- is recognised and makes no new version.
CREATE TABLE plan_versions (
    plan_id     text        NOT NULL REFERENCES plans (id),
    version     integer     NOT NULL CHECK (version > 0),
    name        text        NOT NULL,
    body        jsonb       NOT NULL,
    fingerprint bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (plan_id, version)
);

-- A subscription puts a customer on a plan from starts_at until the next subscription's
-- starts_at. plan_version NULL follows the plan's latest version; a number pins one. overrides
-- holds per-customer replacement prices and terms (JSON, merged over the plan version).
CREATE TABLE subscriptions (
    id           text PRIMARY KEY,
    customer_id  text        NOT NULL REFERENCES customers (id),
    plan_id      text        NOT NULL REFERENCES plans (id),
    plan_version integer,
    starts_at    timestamptz NOT NULL,
    overrides    jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL,
    UNIQUE (customer_id, starts_at),
    FOREIGN KEY (plan_id, plan_version) REFERENCES plan_versions (plan_id, version)
);

-- Prepaid credit. remaining only ever goes down, through a credit_draws row in the same
-- transaction; the CHECK makes a balance below zero impossible whatever the code does.
CREATE TABLE credit_grants (
    customer_id         text        NOT NULL REFERENCES customers (id),
    id                  text        NOT NULL,
    currency            char(3)     NOT NULL,
    amount              numeric     NOT NULL CHECK (amount > 0),
    price_paid          numeric     NOT NULL CHECK (price_paid >= 0),
    price_paid_currency char(3)     NOT NULL,
    remaining           numeric     NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    expires_at          timestamptz,
    created_at          timestamptz NOT NULL,
    PRIMARY KEY (customer_id, id)
);

-- One draw per grant and invoice: the primary key is what keeps a retried invoice run from
-- drawing a grant twice.
CREATE TABLE credit_draws (
    customer_id text        NOT NULL,
    grant_id    text        NOT NULL,
    invoice_ref text        NOT NULL,
    amount      numeric     NOT NULL CHECK (amount > 0),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, grant_id, invoice_ref),
    FOREIGN KEY (customer_id, grant_id) REFERENCES credit_grants (customer_id, id)
);

-- How many units of currency one USD buys, from effective_from on until the next row.
CREATE TABLE exchange_rates (
    currency       char(3)     NOT NULL,
    effective_from timestamptz NOT NULL,
    rate           numeric     NOT NULL CHECK (rate > 0),
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (currency, effective_from)
);
