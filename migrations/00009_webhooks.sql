-- +goose Up
-- Webhooks: the vendor's endpoints, the events that changes write in their own transaction (an
-- outbox: an event exists exactly when the change that caused it committed), one delivery per
-- event and subscribed endpoint with its attempts, and customers' alerts with the periods they
-- fired in.

-- secret signs requests (HMAC-SHA256), so it is kept as given, not hashed; the API shows it only in
-- the answer that creates the endpoint. events '{}' subscribes to every event type. A deleted
-- endpoint stays for its delivery log and gets nothing new.
CREATE TABLE webhook_endpoints (
    id          text PRIMARY KEY,
    url         text        NOT NULL,
    events      text[]      NOT NULL DEFAULT '{}',
    description text        NOT NULL DEFAULT '',
    secret      text        NOT NULL,
    created_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);

-- Written only when some live endpoint subscribes to the type, so that a deployment without
-- webhooks stores nothing. subject is what the event is about (task, invoice, credit note, alert).
CREATE TABLE webhook_events (
    id          text PRIMARY KEY,
    type        text        NOT NULL,
    customer_id text        NOT NULL,
    subject     text        NOT NULL,
    data        jsonb       NOT NULL,
    created_at  timestamptz NOT NULL,
    seq         bigint      GENERATED ALWAYS AS IDENTITY -- write order, whatever the clock says
);
CREATE INDEX webhook_events_subject ON webhook_events (subject, type, seq DESC);

-- One delivery per event and endpoint, created with the event. The id is the Webhook-Id header and
-- the workflow ID of the delivery's Temporal workflow (with ":<n>" appended for its n-th
-- redelivery). dispatched_at is NULL until the dispatcher has started that workflow (available_at
-- leases a claim); redelivering clears it again.
CREATE TABLE webhook_deliveries (
    id               text PRIMARY KEY,
    event_id         text        NOT NULL REFERENCES webhook_events (id),
    endpoint_id      text        NOT NULL REFERENCES webhook_endpoints (id),
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    delivered_at     timestamptz,
    dispatched_at    timestamptz,
    available_at     timestamptz NOT NULL,
    redeliveries     integer     NOT NULL DEFAULT 0,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_undispatched ON webhook_deliveries (available_at, id) WHERE dispatched_at IS NULL;
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

-- Every HTTP attempt of a delivery, as the worker saw it.
CREATE TABLE webhook_attempts (
    delivery_id  text        NOT NULL REFERENCES webhook_deliveries (id),
    attempt      integer     NOT NULL,
    status_code  integer,
    error        text        NOT NULL DEFAULT '',
    duration_ms  integer     NOT NULL,
    attempted_at timestamptz NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- A customer's thresholds, in the customer's billing currency.
CREATE TABLE alerts (
    id          text PRIMARY KEY,
    customer_id text        NOT NULL REFERENCES customers (id),
    kind        text        NOT NULL CHECK (kind IN ('spend', 'prepaid_balance', 'margin_floor')),
    threshold   numeric     NOT NULL CHECK (threshold >= 0),
    currency    char(3)     NOT NULL,
    created_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);
CREATE INDEX alerts_customer ON alerts (customer_id) WHERE deleted_at IS NULL;

-- The primary key is what makes an alert fire once per billing period however often its
-- condition is evaluated.
CREATE TABLE alert_firings (
    alert_id     text        NOT NULL REFERENCES alerts (id),
    period_start timestamptz NOT NULL,
    value        numeric     NOT NULL,
    fired_at     timestamptz NOT NULL,
    PRIMARY KEY (alert_id, period_start)
);
