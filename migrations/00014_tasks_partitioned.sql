-- +goose Up
-- tasks, partitioned by month of opened_at (docs/SCALING.md § 4), like events since 00013.
--
-- opened_at is the occurred_at of the event that created the task (the first of the task in the
-- batch that claimed it): the time axis of events, so that a month's tasks and the events that
-- opened them are detached together for retention. It never changes.
--
-- A unique index of a partitioned table must contain the partition key, so tasks can no longer
-- keep task_id unique on its own, nor (task_id, customer_id), which events reference. Both move
-- to task_keys, the narrow unpartitioned identity ledger of tasks (as event_keys is for events):
-- ingest claims a task there (ON CONFLICT DO NOTHING) and looks its owner up there; events and
-- tasks reference it. The key also says where the task's row is: every look-up by task_id reads
-- opened_at from task_keys first, and run-time pruning takes it to the one partition.
--
-- tasks references task_keys by (task_id, customer_id, opened_at), not only (task_id,
-- customer_id): with the primary key (task_id, opened_at) that keeps one row per task_id across
-- all partitions, and the row where its key says it is — a row with another opened_at would be
-- invisible to every look-up by task_id. ON UPDATE CASCADE: a repair that moves a task to another
-- customer updates task_keys, and the task's row and its events follow.
--
-- This migration copies tasks in one transaction, which is right for the sizes this repository
-- runs; a large production table is converted with the online steps of docs/SCALING.md § 4.

CREATE TABLE task_keys (
    task_id     text PRIMARY KEY,
    customer_id text        NOT NULL REFERENCES customers (id),
    opened_at   timestamptz NOT NULL,
    -- What events reference.
    UNIQUE (task_id, customer_id),
    -- What tasks reference: the row's partition is the key's.
    UNIQUE (task_id, customer_id, opened_at)
);
INSERT INTO task_keys (task_id, customer_id, opened_at)
SELECT t.task_id, t.customer_id, coalesce((SELECT min(e.occurred_at) FROM events e WHERE e.task_id = t.task_id), t.created_at)
FROM tasks t;

ALTER TABLE events
    DROP CONSTRAINT events_task_customer_fkey,
    ADD CONSTRAINT events_task_customer_fkey FOREIGN KEY (task_id, customer_id)
        REFERENCES task_keys (task_id, customer_id) ON UPDATE CASCADE;

ALTER TABLE tasks RENAME TO tasks_unpartitioned;
CREATE TABLE tasks (
    task_id             text        NOT NULL,
    customer_id         text        NOT NULL,
    status              text        NOT NULL DEFAULT 'open',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    outcome_type        text,
    priority            text        NOT NULL DEFAULT 'normal',
    status_at           timestamptz,
    outcome             text,
    quality             numeric,
    outcome_at          timestamptz,
    billable_at         timestamptz,
    state               jsonb,
    version             bigint      NOT NULL DEFAULT 0,
    credit_note_pending boolean     NOT NULL DEFAULT false,
    opened_at           timestamptz NOT NULL,
    CONSTRAINT tasks_status CHECK (status IN ('open', 'verifying', 'billable', 'not_billable', 'expired'))
) PARTITION BY RANGE (opened_at);
CREATE TABLE tasks_default PARTITION OF tasks DEFAULT;

-- Partition maintenance, generalized from 00013's for events to any table partitioned by month
-- with a DEFAULT partition named <table>_default. event_partition_create and
-- ensure_event_partitions keep their names and behaviour; tasks get the same pair.

-- +goose StatementBegin
-- month_partition_name is the name of parent's partition of the month that starts at month (UTC).
CREATE FUNCTION month_partition_name(parent text, month timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
SET TimeZone = 'UTC' AS $$
    SELECT parent || '_y' || to_char(month, 'YYYY') || 'm' || to_char(month, 'MM')
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION event_partition_name(month timestamptz) RETURNS text LANGUAGE sql IMMUTABLE
SET TimeZone = 'UTC' AS $$
    SELECT month_partition_name('events', month)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- month_partition_create makes parent's partition of the month starting at month (UTC midnight
-- of the first) over the partition key column key, moving that month's rows out of the default
-- partition into it. It builds the table on its own and attaches it: ATTACH PARTITION takes a
-- SHARE UPDATE EXCLUSIVE lock on parent, which reads go on past, where CREATE TABLE … PARTITION OF
-- would take an ACCESS EXCLUSIVE one. Indexes, foreign keys and the economics triggers
-- (statement triggers of the parent) come with the attach; CHECK constraints are copied, since
-- the attach requires them.
--
-- The attach also takes SHARE ROW EXCLUSIVE on task_keys, for the new partition's foreign key
-- (both events and tasks reference it): ingest, which inserts task keys, pauses until this
-- transaction ends, milliseconds when the default partition is empty. The locks are taken up front
-- in the order ingest takes them (task_keys, then the parent, then a partition), so that the two
-- cannot deadlock; and the default partition's lock before the move, so that no row of the month
-- can arrive there between the move and the attach (which checks that none is left).
CREATE FUNCTION month_partition_create(parent text, key text, month timestamptz) RETURNS void LANGUAGE plpgsql
SET TimeZone = 'UTC' AS $$
DECLARE
    name text := month_partition_name(parent, month);
    upto timestamptz := month + interval '1 month';
BEGIN
    IF month <> date_trunc('month', month) THEN
        RAISE EXCEPTION '% partition must start at a month''s first midnight (UTC), not %', parent, month;
    END IF;
    LOCK TABLE task_keys IN SHARE ROW EXCLUSIVE MODE;
    EXECUTE format('LOCK TABLE %I IN SHARE UPDATE EXCLUSIVE MODE', parent);
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', parent || '_default');
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE)', name, parent);
    -- The default partition's statement triggers are none, so the move marks nothing dirty: the
    -- rows do not change.
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved',
        parent || '_default', key, key, name) USING month, upto;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, name, month, upto);
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- ensure_month_partitions creates parent's missing partitions of the months from the current one
-- to now() + ahead, and of every month that has rows in the default partition (moving them), and
-- returns how many it created. Idempotent and safe to call from several workers at once: an
-- advisory lock per parent makes them take turns, and the second finds nothing left to do. A run
-- that has nothing to create takes no table lock beyond reading the default partition.
CREATE FUNCTION ensure_month_partitions(parent text, key text, ahead interval) RETURNS int LANGUAGE plpgsql
SET TimeZone = 'UTC' AS $$
DECLARE
    m timestamptz;
    created int := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('ensure_' || parent || '_partitions'));
    FOR m IN EXECUTE format(
        'SELECT generate_series(date_trunc(''month'', now()), date_trunc(''month'', now() + $1), interval ''1 month'')
        UNION
        SELECT DISTINCT date_trunc(''month'', %I) FROM %I
        ORDER BY 1', key, parent || '_default') USING ahead
    LOOP
        IF to_regclass(month_partition_name(parent, m)) IS NULL THEN
            PERFORM month_partition_create(parent, key, m);
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION event_partition_create(month timestamptz) RETURNS void LANGUAGE sql AS $$
    SELECT month_partition_create('events', 'occurred_at', month)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ensure_event_partitions(ahead interval) RETURNS int LANGUAGE sql AS $$
    SELECT ensure_month_partitions('events', 'occurred_at', ahead)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION task_partition_name(month timestamptz) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT month_partition_name('tasks', month)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION task_partition_create(month timestamptz) RETURNS void LANGUAGE sql AS $$
    SELECT month_partition_create('tasks', 'opened_at', month)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION ensure_task_partitions(ahead interval) RETURNS int LANGUAGE sql AS $$
    SELECT ensure_month_partitions('tasks', 'opened_at', ahead)
$$;
-- +goose StatementEnd

-- The existing months get their partitions before the copy, so each row is written once, into
-- its month; indexes and keys are built after it.
SELECT ensure_task_partitions(interval '2 months');
SELECT task_partition_create(m)
FROM (SELECT DISTINCT date_trunc('month', opened_at, 'UTC') AS m FROM task_keys) months
WHERE to_regclass(task_partition_name(m)) IS NULL
ORDER BY m;
INSERT INTO tasks (task_id, customer_id, status, created_at, updated_at, outcome_type, priority, status_at, outcome,
    quality, outcome_at, billable_at, state, version, credit_note_pending, opened_at)
SELECT t.task_id, t.customer_id, t.status, t.created_at, t.updated_at, t.outcome_type, t.priority, t.status_at, t.outcome,
    t.quality, t.outcome_at, t.billable_at, t.state, t.version, t.credit_note_pending, k.opened_at
FROM tasks_unpartitioned t JOIN task_keys k ON k.task_id = t.task_id;
DROP TABLE tasks_unpartitioned;

-- (task_id, opened_at) is what a unique key of tasks can be; task_id alone is unique through
-- task_keys, and the foreign key keeps one row per key.
ALTER TABLE tasks ADD PRIMARY KEY (task_id, opened_at);
CREATE INDEX tasks_customer ON tasks (customer_id);
-- Invoice runs take a customer's tasks that became billable in a period: billing goes by
-- status_at, not opened_at, so a period read probes this index in every partition.
CREATE INDEX tasks_billable ON tasks (customer_id, status_at) WHERE status = 'billable';
ALTER TABLE tasks ADD CONSTRAINT tasks_task_key_fkey FOREIGN KEY (task_id, customer_id, opened_at)
    REFERENCES task_keys (task_id, customer_id, opened_at) ON UPDATE CASCADE;

-- Statement triggers with transition tables on the partitioned parent, as for events (00013):
-- economics_tasks_changed (00006) works unchanged.
CREATE TRIGGER economics_tasks_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_tasks_changed();
CREATE TRIGGER economics_tasks_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_tasks_changed();
CREATE TRIGGER economics_tasks_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_tasks_changed();

-- +goose StatementBegin
-- economics_task_rows (00006) finds each task through its key: one probe of one partition of
-- tasks per task (run-time pruning on the key's opened_at, redone for each key) instead of one per
-- month. OFFSET 0 keeps the planner from flattening the probe into a join, which on small or
-- young tables it would run as one scan of every partition, hashed.
CREATE OR REPLACE FUNCTION economics_task_rows(ids text[]) RETURNS SETOF task_economics LANGUAGE sql STABLE AS $$
    SELECT t.task_id, t.customer_id, COALESCE(t.status_at, t.created_at),
        (COALESCE(t.status_at, t.created_at) AT TIME ZONE c.timezone)::date, COALESCE(t.outcome_type, ''), t.status,
        t.outcome, t.quality, COALESCE(m.model, ''), COALESCE(m.cost_usd, 0), COALESCE(m.unpriced, 0)
    FROM task_keys k
    CROSS JOIN LATERAL (SELECT * FROM tasks t WHERE t.task_id = k.task_id AND t.opened_at = k.opened_at OFFSET 0) t
    JOIN customers c ON c.id = t.customer_id
    LEFT JOIN LATERAL (
        SELECT sum(u.cost_usd) AS cost_usd, sum(u.unpriced) AS unpriced,
            (array_agg(u.model ORDER BY u.model = '', u.cost_usd DESC, u.n DESC, u.model))[1] AS model
        FROM (
            -- All the task's events, usage picked out by FILTER: a type = 'task.usage' condition
            -- here would let the planner prefer events_customer_time (partial on that type) and
            -- scan all of it for every task.
            SELECT COALESCE(e.model, '') AS model, COALESCE(sum(e.cost_usd) FILTER (WHERE e.type = 'task.usage'), 0) AS cost_usd,
                count(*) FILTER (WHERE e.type = 'task.usage') AS n,
                count(*) FILTER (WHERE e.type = 'task.usage' AND e.cost_usd IS NULL) AS unpriced
            FROM events e WHERE e.task_id = t.task_id
            GROUP BY 1
            HAVING count(*) FILTER (WHERE e.type = 'task.usage') > 0
        ) u
    ) m ON true
    WHERE k.task_id = ANY(ids)
$$;
-- +goose StatementEnd

ANALYZE task_keys;
ANALYZE tasks;
