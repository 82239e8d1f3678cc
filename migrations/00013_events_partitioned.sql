-- +goose Up
-- events, partitioned by month of occurred_at (docs/SCALING.md § 4). The table grows with every
-- event forever, but is read almost only by period (a customer's meters, a month's economics):
-- with one partition a month those reads touch the period's partitions only, old months' indexes
-- go cold instead of crowding the cache, and retention detaches a month instead of deleting rows.
--
-- A unique index of a partitioned table must contain the partition key, so events can no longer
-- keep an event's id unique on its own — and ids must stay unique across all time: the same id
-- with another occurred_at is a conflict, not a second event in another month. The id's
-- uniqueness moves to event_keys, the idempotency ledger: one narrow unpartitioned row per
-- accepted event, inserted by the ingest statement (ON CONFLICT DO NOTHING) before the event
-- itself, and where duplicates are judged (the fingerprint). An event is stored if and only if its
-- key was inserted by the same statement, so the two tables hold the same ids.
--
-- A DEFAULT partition takes any event whose month has no partition yet — a backfill of 2021, or a
-- month the maintenance job has not reached — so that no event is ever refused for want of a
-- partition; ensure_event_partitions (run by the worker) creates the month's partition and moves
-- those rows into it.
--
-- The outbox gets occurred_at so that the relay's join to events prunes to the event's partition
-- instead of probing every month's index.
--
-- This migration copies events in one transaction, which is right for the sizes this repository
-- runs; a large production table is converted with the online steps of docs/SCALING.md § 4.

CREATE TABLE event_keys (
    id          text PRIMARY KEY,
    fingerprint bytea       NOT NULL,
    -- Where the event's row is: a look-up by id alone can go to the one partition.
    occurred_at timestamptz NOT NULL
);
INSERT INTO event_keys (id, fingerprint, occurred_at) SELECT id, fingerprint, occurred_at FROM events;

ALTER TABLE outbox ADD COLUMN occurred_at timestamptz;
UPDATE outbox o SET occurred_at = e.occurred_at FROM events e WHERE e.id = o.event_id;
-- A row whose event is gone could never be delivered (the relay joins events); it goes too.
DELETE FROM outbox WHERE occurred_at IS NULL;
ALTER TABLE outbox ALTER COLUMN occurred_at SET NOT NULL;

ALTER TABLE events RENAME TO events_unpartitioned;
CREATE TABLE events (
    id                  text        NOT NULL,
    fingerprint         bytea       NOT NULL,
    type                text        NOT NULL,
    customer_id         text        NOT NULL,
    task_id             text        NOT NULL,
    occurred_at         timestamptz NOT NULL,
    received_at         timestamptz NOT NULL,
    body                jsonb       NOT NULL,
    model               text,
    input_tokens        bigint,
    cached_input_tokens bigint,
    cache_write_tokens  bigint,
    reasoning_tokens    bigint,
    output_tokens       bigint,
    cost_usd            numeric
) PARTITION BY RANGE (occurred_at);
CREATE TABLE events_default PARTITION OF events DEFAULT;

-- +goose StatementBegin
-- event_partition_name is the name of the partition of the month that starts at month (UTC).
CREATE FUNCTION event_partition_name(month timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
SET TimeZone = 'UTC' AS $$
    SELECT 'events_y' || to_char(month, 'YYYY') || 'm' || to_char(month, 'MM')
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- event_partition_create makes the partition of the month starting at month (UTC midnight of the
-- first), moving that month's rows out of the default partition into it. It builds the table on
-- its own and attaches it: ATTACH PARTITION takes a SHARE UPDATE EXCLUSIVE lock on events, which
-- reads go on past, where CREATE TABLE … PARTITION OF would take an ACCESS EXCLUSIVE one.
-- Indexes, the foreign key and the economics triggers (statement triggers of the parent) come
-- with the attach.
--
-- The attach also takes SHARE ROW EXCLUSIVE on tasks, for the new partition's foreign key: ingest
-- (which inserts tasks) pauses until this transaction ends, milliseconds when the default
-- partition is empty. The locks are taken up front in the order ingest takes them (tasks, then
-- events, then a partition), so that the two cannot deadlock; and the default partition's lock
-- before the move, so that no event of the month can arrive there between the move and the
-- attach (which checks that none is left).
CREATE FUNCTION event_partition_create(month timestamptz) RETURNS void LANGUAGE plpgsql
SET TimeZone = 'UTC' AS $$
DECLARE
    name text := event_partition_name(month);
    upto timestamptz := month + interval '1 month';
BEGIN
    IF month <> date_trunc('month', month) THEN
        RAISE EXCEPTION 'event partition must start at a month''s first midnight (UTC), not %', month;
    END IF;
    LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE;
    LOCK TABLE events IN SHARE UPDATE EXCLUSIVE MODE;
    LOCK TABLE events_default IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS INCLUDING STORAGE)', name);
    -- The default partition's statement triggers are none, so the move marks nothing dirty: the
    -- events do not change.
    EXECUTE format('WITH moved AS (DELETE FROM events_default WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *)
        INSERT INTO %I SELECT * FROM moved', name) USING month, upto;
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', name, month, upto);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- ensure_event_partitions creates the missing partitions of the months from the current one to
-- now() + ahead, and of every month that has rows in the default partition (moving them), and
-- returns how many it created. Idempotent and safe to call from several workers at once: an
-- advisory lock makes them take turns, and the second finds nothing left to do.
CREATE FUNCTION ensure_event_partitions(ahead interval) RETURNS int LANGUAGE plpgsql
SET TimeZone = 'UTC' AS $$
DECLARE
    m timestamptz;
    created int := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ensure_event_partitions'));
    FOR m IN
        SELECT generate_series(date_trunc('month', now()), date_trunc('month', now() + ahead), interval '1 month')
        UNION
        SELECT DISTINCT date_trunc('month', occurred_at) FROM events_default
        ORDER BY 1
    LOOP
        IF to_regclass(event_partition_name(m)) IS NULL THEN
            PERFORM event_partition_create(m);
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END $$;
-- +goose StatementEnd

-- The existing months get their partitions before the copy, so each row is written once, into
-- its month; indexes and the key are built after it, which is faster than keeping them up row by
-- row.
SELECT ensure_event_partitions(interval '2 months');
SELECT event_partition_create(m)
FROM (SELECT DISTINCT date_trunc('month', occurred_at, 'UTC') AS m FROM events_unpartitioned) months
WHERE to_regclass(event_partition_name(m)) IS NULL
ORDER BY m;
INSERT INTO events SELECT * FROM events_unpartitioned;
DROP TABLE events_unpartitioned;

-- (id, occurred_at) is what a unique key of events can be; id alone is unique through
-- event_keys. The key also serves the look-ups by id (the relay's join, repricing).
ALTER TABLE events ADD PRIMARY KEY (id, occurred_at);
CREATE INDEX events_task ON events (task_id, occurred_at);
CREATE INDEX events_unpriced ON events (model, occurred_at) WHERE type = 'task.usage' AND cost_usd IS NULL;
CREATE INDEX events_customer_time ON events (customer_id, occurred_at) WHERE type = 'task.usage';
ALTER TABLE events ADD CONSTRAINT events_task_customer_fkey FOREIGN KEY (task_id, customer_id)
    REFERENCES tasks (task_id, customer_id) ON UPDATE CASCADE;

-- Statement triggers with transition tables are allowed on a partitioned table (not on its
-- partitions) and see the rows of every partition a statement touched, a row moved between
-- partitions by an UPDATE included: economics_events_changed (00011) works unchanged.
CREATE TRIGGER economics_events_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_events_changed();
CREATE TRIGGER economics_events_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_events_changed();
CREATE TRIGGER economics_events_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_events_changed();

ANALYZE events;
ANALYZE event_keys;
