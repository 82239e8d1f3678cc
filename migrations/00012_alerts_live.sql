-- +goose Up
-- Alerts evaluated while a period is open (issue 9): margin_floor and spend alerts are evaluated as
-- a customer's tasks bill, not only when a draft is built; prepaid credit grants announce that
-- they are about to expire; and alert firings keep what they found, in write order, for the
-- dashboard and GET /v1/alert-firings.

-- One row per customer whose tasks moved into or out of billable since its spend and margin_floor
-- alerts were last evaluated. SaveTaskState writes it, in the transaction that moves the task, only
-- for customers that have such an alert. [billed_from, billed_to] spans the status_at of the tasks
-- marked, so the evaluator knows which billing periods to look at; marks counts the moves, so the
-- evaluator can tell whether more arrived while it worked (it deletes the row only when marks is
-- what it claimed). available_at leases a claim, as in the outbox.
CREATE TABLE alert_checks (
    customer_id  text        PRIMARY KEY REFERENCES customers (id),
    billed_from  timestamptz NOT NULL,
    billed_to    timestamptz NOT NULL,
    marks        bigint      NOT NULL DEFAULT 1,
    marked_at    timestamptz NOT NULL,
    available_at timestamptz NOT NULL
);
CREATE INDEX alert_checks_available ON alert_checks (available_at);

-- A grant with credit left announces its expiry once per notice threshold (days before expiry):
-- the primary key is what keeps a threshold from firing twice, however many workers look.
CREATE TABLE credit_expiry_notices (
    customer_id text        NOT NULL,
    grant_id    text        NOT NULL,
    days        integer     NOT NULL CHECK (days > 0),
    expires_at  timestamptz NOT NULL,
    remaining   numeric     NOT NULL,
    notified_at timestamptz NOT NULL,
    PRIMARY KEY (customer_id, grant_id, days),
    FOREIGN KEY (customer_id, grant_id) REFERENCES credit_grants (customer_id, id)
);
CREATE INDEX credit_grants_expiring ON credit_grants (expires_at) WHERE remaining > 0 AND expires_at IS NOT NULL;

-- seq orders firings for the list (newest first); data is what the firing's webhook carried.
ALTER TABLE alert_firings
    ADD COLUMN seq  bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN data jsonb  NOT NULL DEFAULT '{}';
CREATE UNIQUE INDEX alert_firings_seq ON alert_firings (seq);

-- Margin floors are percentages of revenue: 0 to 100.
ALTER TABLE alerts ADD CONSTRAINT alerts_margin_floor CHECK (kind <> 'margin_floor' OR threshold <= 100);
