-- +goose Up
-- Economics (DESIGN.md §6): margin, labor equivalent and model economics read rollups, so that a
-- report never sums raw events or loads tasks:
--
--   tasks, events, customers ──(triggers: append)──▶ economics_dirty
--   economics_dirty ──(economics_fold, in the worker)──▶ task_economics ──▶ economics_daily
--
-- * task_economics: one row per task with what the reports group and filter on — the customer,
--   the local day of the task's status_at in the customer's billing timezone, outcome type,
--   status, outcome, quality — and its cost, unpriced usage count and model (the one with the
--   most cost; see economics_task_rows), as of the last time the task was folded.
-- * economics_daily: task_economics summed per customer, local day, outcome type, model and
--   status, kept by deltas (new rows minus old rows) in the transaction that changes
--   task_economics.
-- * economics_dirty: the tasks changed since they were last folded, one row per change, appended
--   by triggers in the writer's own transaction.
--
-- Why two steps. Every ingest transaction touches tasks of the same few customers on the same
-- day, i.e. the same economics_daily rows; updating them from the writer's transaction (as the
-- first version of this migration did) held those rows locked until the writer's commit had been
-- flushed, serializing concurrent ingest and costing half of a batch's time. Now the triggers on
-- tasks, events and customers only append (task_id, customer_id) to economics_dirty: an insert
-- into a table nobody updates, which takes no lock another writer waits for. economics_fold,
-- called in a loop by the worker (postgres.DB.RunEconomicsFolder), takes a batch of dirty rows
-- and recomputes those tasks from tasks, customers and events, in small transactions.
--
-- Folding recomputes a task rather than adding deltas carried by the dirty rows, so it is
-- idempotent: a task folded twice, or folded while more of its events arrive, ends up right, and
-- nothing is counted twice. Reports stay exact without waiting for the folder: in one snapshot,
-- every task whose task_economics row is not what tasks and events say has a dirty row (the
-- writer committed it with its change; the fold deletes it in the transaction that brings the
-- row up to date), so a report reads the rollup, takes the stale rows of its customers' dirty
-- tasks out and puts their current rows (economics_task_rows) in (postgres/economics.go).
-- economics_rebuild() recomputes everything from tasks and events, for repairs and bulk loads.

CREATE TABLE task_economics (
    task_id      text PRIMARY KEY,
    customer_id  text        NOT NULL,
    -- at is the task's status_at (or, before its workflow first saved a state, when its row was
    -- created); day is at's date in the customer's billing timezone. A task counts in the period
    -- that contains at: for a billable task, the period it is billed in.
    at           timestamptz NOT NULL,
    day          date        NOT NULL,
    outcome_type text        NOT NULL, -- '' until task.started arrives
    status       text        NOT NULL,
    outcome      text,
    quality      numeric,
    model        text        NOT NULL, -- '' when the task has no token usage
    cost_usd     numeric     NOT NULL,
    unpriced     bigint      NOT NULL
);
-- The partial days at either end of a range that does not start or end at a local midnight are
-- read task by task: these keep that to an index range scan of at most two days' tasks.
CREATE INDEX task_economics_customer_at ON task_economics (customer_id, at);

CREATE TABLE economics_daily (
    customer_id  text    NOT NULL,
    day          date    NOT NULL,
    outcome_type text    NOT NULL,
    model        text    NOT NULL,
    status       text    NOT NULL,
    tasks        bigint  NOT NULL,
    succeeded    bigint  NOT NULL,
    partial      bigint  NOT NULL,
    failed       bigint  NOT NULL,
    escalated    bigint  NOT NULL,
    quality_sum  numeric NOT NULL,
    quality_n    bigint  NOT NULL,
    cost_usd     numeric NOT NULL,
    unpriced     bigint  NOT NULL,
    -- A customer's period is one index range scan: (customer_id, day between from and to).
    PRIMARY KEY (customer_id, day, outcome_type, model, status)
);

-- Insert-only for writers, deleted by the folder. customer_id is the task's customer (both the
-- old and the new one, should a task change customer), so that a report reads only its
-- customers' pending tasks. The folder takes the oldest rows first (id).
CREATE TABLE economics_dirty (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     text NOT NULL,
    customer_id text NOT NULL
);
CREATE INDEX economics_dirty_customer ON economics_dirty (customer_id);

-- Revenue of a range is read from the non-void invoices starting in it, for one customer
-- (invoices_customer) or for all of them (this one).
CREATE INDEX invoices_period_start ON invoices (period_start) WHERE status <> 'void';

-- +goose StatementBegin
-- economics_task_rows is what task_economics should hold for the given tasks, computed from
-- tasks, customers and their usage events (one range scan of events_task each). A task's model is
-- the model with the most cost in it — ties to the one with more usage events, then by name — and
-- non-token cost ('') only when the task used no model at all: the whole task (its outcome, its
-- cost, its share of revenue) is attributed to that one model. economics_rebuild computes the
-- same for all tasks at once.
CREATE FUNCTION economics_task_rows(ids text[]) RETURNS SETOF task_economics LANGUAGE sql STABLE AS $$
    SELECT t.task_id, t.customer_id, COALESCE(t.status_at, t.created_at),
        (COALESCE(t.status_at, t.created_at) AT TIME ZONE c.timezone)::date, COALESCE(t.outcome_type, ''), t.status,
        t.outcome, t.quality, COALESCE(m.model, ''), COALESCE(m.cost_usd, 0), COALESCE(m.unpriced, 0)
    FROM tasks t
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
    WHERE t.task_id = ANY(ids)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- economics_contribution is what one task_economics row adds to (sign 1) or takes from (sign -1)
-- its rollup row.
CREATE FUNCTION economics_contribution(te task_economics, sign int) RETURNS economics_daily LANGUAGE sql IMMUTABLE AS $$
    SELECT ROW(te.customer_id, te.day, te.outcome_type, te.model, te.status, sign,
        sign * (te.outcome IS NOT DISTINCT FROM 'succeeded')::int, sign * (te.outcome IS NOT DISTINCT FROM 'partial')::int, sign * (te.outcome IS NOT DISTINCT FROM 'failed')::int,
        sign * (te.outcome IS NOT DISTINCT FROM 'escalated')::int, sign * COALESCE(te.quality, 0), sign * (te.quality IS NOT NULL)::int,
        sign * te.cost_usd, sign * te.unpriced)::economics_daily
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- economics_sync_tasks brings the task_economics rows of the given tasks up to date (writing only
-- rows that changed, deleting those of tasks that no longer exist) and adds the difference, new
-- rows minus old ones, to economics_daily: one upsert in key order, so that concurrent folders
-- queue instead of deadlocking. The caller makes sure no one else syncs the same tasks at the
-- same time (economics_fold's advisory locks).
CREATE FUNCTION economics_sync_tasks(ids text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    deltas economics_daily[];
BEGIN
    WITH old AS (
        SELECT te.* FROM task_economics te WHERE te.task_id = ANY(ids)
    ), fresh AS (
        SELECT * FROM economics_task_rows(ids)
    ), upserted AS (
        INSERT INTO task_economics AS te (task_id, customer_id, at, day, outcome_type, status, outcome, quality, model,
            cost_usd, unpriced)
        SELECT * FROM fresh ORDER BY task_id
        ON CONFLICT (task_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, at = EXCLUDED.at, day = EXCLUDED.day,
            outcome_type = EXCLUDED.outcome_type, status = EXCLUDED.status, outcome = EXCLUDED.outcome,
            quality = EXCLUDED.quality, model = EXCLUDED.model, cost_usd = EXCLUDED.cost_usd, unpriced = EXCLUDED.unpriced
        WHERE (te.customer_id, te.at, te.day, te.outcome_type, te.status, te.outcome, te.quality, te.model, te.cost_usd, te.unpriced)
            IS DISTINCT FROM (EXCLUDED.customer_id, EXCLUDED.at, EXCLUDED.day, EXCLUDED.outcome_type, EXCLUDED.status,
                EXCLUDED.outcome, EXCLUDED.quality, EXCLUDED.model, EXCLUDED.cost_usd, EXCLUDED.unpriced)
        RETURNING te.*
    ), deleted AS (
        DELETE FROM task_economics te WHERE te.task_id = ANY(ids) AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.task_id = te.task_id)
        RETURNING te.task_id
    )
    SELECT ARRAY(
        SELECT economics_contribution(ROW(u.*)::task_economics, 1) FROM upserted u
        UNION ALL
        SELECT economics_contribution(ROW(o.*)::task_economics, -1) FROM old o
        WHERE o.task_id IN (SELECT task_id FROM upserted UNION ALL SELECT task_id FROM deleted))
    INTO deltas;
    INSERT INTO economics_daily AS r (customer_id, day, outcome_type, model, status, tasks, succeeded, partial, failed,
        escalated, quality_sum, quality_n, cost_usd, unpriced)
    SELECT customer_id, day, outcome_type, model, status, sum(tasks), sum(succeeded), sum(partial), sum(failed),
        sum(escalated), sum(quality_sum), sum(quality_n), sum(cost_usd), sum(unpriced)
    FROM unnest(deltas)
    GROUP BY customer_id, day, outcome_type, model, status
    HAVING sum(tasks) <> 0 OR sum(succeeded) <> 0 OR sum(partial) <> 0 OR sum(failed) <> 0 OR sum(escalated) <> 0
        OR sum(quality_sum) <> 0 OR sum(quality_n) <> 0 OR sum(cost_usd) <> 0 OR sum(unpriced) <> 0
    ORDER BY customer_id, day, outcome_type, model, status
    ON CONFLICT (customer_id, day, outcome_type, model, status) DO UPDATE SET tasks = r.tasks + EXCLUDED.tasks,
        succeeded = r.succeeded + EXCLUDED.succeeded, partial = r.partial + EXCLUDED.partial,
        failed = r.failed + EXCLUDED.failed, escalated = r.escalated + EXCLUDED.escalated,
        quality_sum = r.quality_sum + EXCLUDED.quality_sum, quality_n = r.quality_n + EXCLUDED.quality_n,
        cost_usd = r.cost_usd + EXCLUDED.cost_usd, unpriced = r.unpriced + EXCLUDED.unpriced;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- economics_fold folds up to max_rows of the oldest dirty rows and returns how many it took. Run
-- it in a READ COMMITTED transaction of its own (postgres.DB.FoldEconomics does): each statement
-- then sees everything committed before it, which is what makes this safe with several folders
-- and concurrent writers:
--  1. claim: delete the rows, skipping those another folder holds. Every change behind a claimed
--     row was committed with it, so it is visible to the statements below.
--  2. lock the claimed tasks (transaction advisory locks, in key order): a folder that claimed
--     another dirty row of the same task waits here until this one commits, and then, in step 3,
--     sees at least what this one saw, so it can never write an older state over a newer one.
--  3. recompute the tasks and apply the difference to economics_daily. A change committed after
--     step 1 left a dirty row of its own, which a later fold takes (recomputing is idempotent).
-- JIT is off: a fold takes milliseconds, and on young tables, whose statistics overestimate the
-- events per task, its estimated cost crossed jit_above_cost and compiling took 80 ms a fold.
CREATE FUNCTION economics_fold(max_rows int) RETURNS int LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    ids text[];
    n int;
BEGIN
    WITH claimed AS (
        DELETE FROM economics_dirty WHERE id IN (
            SELECT id FROM economics_dirty ORDER BY id LIMIT max_rows FOR UPDATE SKIP LOCKED)
        RETURNING task_id
    )
    SELECT array_agg(DISTINCT task_id), count(*) INTO ids, n FROM claimed;
    IF n = 0 THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('economics_fold'), s.k)
    FROM (SELECT DISTINCT hashtext(u.id) AS k FROM unnest(ids) AS u(id) ORDER BY 1) s;
    PERFORM economics_sync_tasks(ids);
    RETURN n;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Usage events change their task's cost. The dirty row names the task's customer (from tasks, not
-- the event, so that a report of that customer finds it). A trigger with transition tables fires
-- for one kind of statement only, and a function may name only the transition tables its trigger
-- has, hence the branches.
CREATE FUNCTION economics_events_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO economics_dirty (task_id, customer_id)
        SELECT t.task_id, t.customer_id FROM tasks t
        WHERE t.task_id IN (SELECT n.task_id FROM new_rows n WHERE n.type = 'task.usage');
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO economics_dirty (task_id, customer_id)
        SELECT t.task_id, t.customer_id FROM tasks t
        WHERE t.task_id IN (SELECT n.task_id FROM new_rows n WHERE n.type = 'task.usage'
            UNION SELECT o.task_id FROM old_rows o WHERE o.type = 'task.usage');
    ELSE
        INSERT INTO economics_dirty (task_id, customer_id)
        SELECT t.task_id, t.customer_id FROM tasks t
        WHERE t.task_id IN (SELECT o.task_id FROM old_rows o WHERE o.type = 'task.usage');
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER economics_events_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_events_changed();
CREATE TRIGGER economics_events_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_events_changed();
CREATE TRIGGER economics_events_delete AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_events_changed();

-- +goose StatementBegin
-- A new task, or a change to a task's reported columns (the workflow's SaveTaskState, a repair),
-- marks it dirty. Saves that change nothing reported cost a join of two one-row transition tables.
CREATE FUNCTION economics_tasks_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO economics_dirty (task_id, customer_id) SELECT task_id, customer_id FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        WITH changed AS (
            SELECT n.task_id, n.customer_id, o.customer_id AS old_customer_id
            FROM new_rows n JOIN old_rows o ON o.task_id = n.task_id
            WHERE (n.customer_id, n.status, n.status_at, n.outcome_type, n.outcome, n.quality, n.created_at)
                IS DISTINCT FROM (o.customer_id, o.status, o.status_at, o.outcome_type, o.outcome, o.quality, o.created_at)
        )
        INSERT INTO economics_dirty (task_id, customer_id)
        SELECT task_id, customer_id FROM changed
        UNION ALL
        SELECT task_id, old_customer_id FROM changed WHERE old_customer_id <> customer_id;
    ELSE
        INSERT INTO economics_dirty (task_id, customer_id) SELECT task_id, customer_id FROM old_rows;
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER economics_tasks_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_tasks_changed();
CREATE TRIGGER economics_tasks_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_tasks_changed();
CREATE TRIGGER economics_tasks_delete AFTER DELETE ON tasks
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_tasks_changed();

-- +goose StatementBegin
-- A customer's new billing timezone moves its tasks to other local days: all of them are dirty.
CREATE FUNCTION economics_customers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO economics_dirty (task_id, customer_id)
    SELECT t.task_id, t.customer_id
    FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN tasks t ON t.customer_id = n.id
    WHERE n.timezone IS DISTINCT FROM o.timezone;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER economics_customers_update AFTER UPDATE ON customers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_customers_changed();

-- +goose StatementBegin
-- economics_rebuild recomputes task_economics and economics_daily from tasks and events in a few
-- set-based statements — after a bulk load made with the triggers off, or to repair — and empties
-- economics_dirty, whose changes it has taken in. It takes exclusive locks on the three tables:
-- writers and folders wait for it (a writer blocks in its trigger, so its change, committed after
-- the rebuild, leaves a dirty row that is folded afterwards).
CREATE FUNCTION economics_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE economics_dirty, economics_daily, task_economics;
    INSERT INTO task_economics (task_id, customer_id, at, day, outcome_type, status, outcome, quality, model, cost_usd, unpriced)
    SELECT t.task_id, t.customer_id, COALESCE(t.status_at, t.created_at),
        (COALESCE(t.status_at, t.created_at) AT TIME ZONE c.timezone)::date, COALESCE(t.outcome_type, ''), t.status,
        t.outcome, t.quality, COALESCE(m.model, ''), COALESCE(m.cost_usd, 0), COALESCE(m.unpriced, 0)
    FROM tasks t
    JOIN customers c ON c.id = t.customer_id
    LEFT JOIN (
        SELECT task_id, sum(cost_usd) AS cost_usd, sum(unpriced) AS unpriced,
            (array_agg(model ORDER BY model = '', cost_usd DESC, n DESC, model))[1] AS model
        FROM (
            SELECT task_id, COALESCE(model, '') AS model, COALESCE(sum(cost_usd), 0) AS cost_usd, count(*) AS n,
                count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced
            FROM events WHERE type = 'task.usage' GROUP BY 1, 2
        ) u
        GROUP BY task_id
    ) m ON m.task_id = t.task_id;
    INSERT INTO economics_daily (customer_id, day, outcome_type, model, status, tasks, succeeded, partial, failed,
        escalated, quality_sum, quality_n, cost_usd, unpriced)
    SELECT customer_id, day, outcome_type, model, status, count(*), count(*) FILTER (WHERE outcome = 'succeeded'),
        count(*) FILTER (WHERE outcome = 'partial'), count(*) FILTER (WHERE outcome = 'failed'),
        count(*) FILTER (WHERE outcome = 'escalated'), COALESCE(sum(quality), 0), count(quality), sum(cost_usd), sum(unpriced)
    FROM task_economics GROUP BY 1, 2, 3, 4, 5;
    ANALYZE task_economics;
    ANALYZE economics_daily;
END $$;
-- +goose StatementEnd

SELECT economics_rebuild();
