-- +goose Up
-- Economics (DESIGN.md §6): margin, labor equivalent and model economics read rollups that the
-- database keeps current itself, so that a report never sums raw events or loads tasks:
--
--   events ──▶ task_model_costs ──▶ task_economics ──▶ economics_daily
--   tasks  ─────────────────────────────▲
--   customers (timezone) ───────────────┘
--
-- * task_model_costs: a task's cost per model ('' for non-token cost), changed by deltas from
--   every insert, update (a late price filling cost_usd in) or delete of usage events.
-- * task_economics: one row per task with what the reports group and filter on — the customer,
--   the local day of the task's status_at in the customer's billing timezone, outcome type,
--   status, outcome, quality — and its cost, unpriced usage count and model (the one with the
--   most cost; see economics_sync_tasks). Recomputed from its sources whenever one changes.
-- * economics_daily: task_economics summed per customer, local day, outcome type, model and
--   status, kept by deltas (new rows minus old rows) from every change to task_economics.
--
-- Triggers rather than workflow code keep them current: every writer of tasks and events (ingest,
-- the task workflow's state saves, price back-fills, tests, manual repairs) is covered, in the
-- writer's own transaction, so a report can never see a task's new state without its cost or the
-- other way round. The triggers are statement-level with transition tables, so a 1,000-event
-- ingest batch costs a few set-based statements, not 1,000 row-by-row calls, and each takes its
-- row locks in key order (task_id, then rollup key) so that concurrent writers queue instead of
-- deadlocking. economics_rebuild() recomputes everything from tasks and events, for repairs and
-- bulk loads.

CREATE TABLE task_model_costs (
    task_id      text    NOT NULL,
    model        text    NOT NULL, -- '' for non-token cost (tool calls, GPU minutes)
    cost_usd     numeric NOT NULL DEFAULT 0,
    usage_events bigint  NOT NULL DEFAULT 0,
    unpriced     bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (task_id, model)
);

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

-- Revenue of a range is read from the non-void invoices starting in it, for one customer
-- (invoices_customer) or for all of them (this one).
CREATE INDEX invoices_period_start ON invoices (period_start) WHERE status <> 'void';

-- +goose StatementBegin
-- economics_sync_tasks recomputes the task_economics rows of the given tasks from tasks,
-- customers and task_model_costs, writing only rows that changed (whose deltas then reach
-- economics_daily through task_economics_changed). A task's model is the model with the most cost
-- in it — ties to the one with more usage events, then by name — and non-token cost ('') only
-- when the task used no model at all: the whole task (its outcome, its cost, its share of revenue)
-- is attributed to that one model.
CREATE FUNCTION economics_sync_tasks(ids text[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO task_economics AS te (task_id, customer_id, at, day, outcome_type, status, outcome, quality, model,
        cost_usd, unpriced)
    SELECT t.task_id, t.customer_id, COALESCE(t.status_at, t.created_at),
        (COALESCE(t.status_at, t.created_at) AT TIME ZONE c.timezone)::date, COALESCE(t.outcome_type, ''), t.status,
        t.outcome, t.quality, COALESCE(m.model, ''), COALESCE(m.cost_usd, 0), COALESCE(m.unpriced, 0)
    FROM (SELECT DISTINCT u.id FROM unnest(ids) AS u(id)) u
    JOIN tasks t ON t.task_id = u.id
    JOIN customers c ON c.id = t.customer_id
    LEFT JOIN LATERAL (
        SELECT sum(mc.cost_usd) AS cost_usd, sum(mc.unpriced) AS unpriced,
            (array_agg(mc.model ORDER BY mc.model = '', mc.cost_usd DESC, mc.usage_events DESC, mc.model))[1] AS model
        FROM task_model_costs mc WHERE mc.task_id = t.task_id
    ) m ON true
    ORDER BY t.task_id
    ON CONFLICT (task_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, at = EXCLUDED.at, day = EXCLUDED.day,
        outcome_type = EXCLUDED.outcome_type, status = EXCLUDED.status, outcome = EXCLUDED.outcome,
        quality = EXCLUDED.quality, model = EXCLUDED.model, cost_usd = EXCLUDED.cost_usd, unpriced = EXCLUDED.unpriced
    WHERE (te.customer_id, te.at, te.day, te.outcome_type, te.status, te.outcome, te.quality, te.model, te.cost_usd, te.unpriced)
        IS DISTINCT FROM (EXCLUDED.customer_id, EXCLUDED.at, EXCLUDED.day, EXCLUDED.outcome_type, EXCLUDED.status,
            EXCLUDED.outcome, EXCLUDED.quality, EXCLUDED.model, EXCLUDED.cost_usd, EXCLUDED.unpriced)
$$;
-- +goose StatementEnd

-- +goose StatementBegin
-- economics_apply_costs adds deltas of cost by task and model to task_model_costs, in key order,
-- and re-syncs the tasks whose cost changed.
CREATE FUNCTION economics_apply_costs(task_ids text[], models text[], costs numeric[], n bigint[], unpriced bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    touched text[];
BEGIN
    WITH summed AS (
        SELECT d.task_id, d.model, sum(d.cost_usd) AS cost_usd, sum(d.n) AS n, sum(d.unpriced) AS unpriced
        FROM unnest(task_ids, models, costs, n, unpriced) AS d(task_id, model, cost_usd, n, unpriced)
        GROUP BY d.task_id, d.model
        HAVING sum(d.cost_usd) <> 0 OR sum(d.n) <> 0 OR sum(d.unpriced) <> 0
    ), upserted AS (
        INSERT INTO task_model_costs AS m (task_id, model, cost_usd, usage_events, unpriced)
        SELECT s.task_id, s.model, s.cost_usd, s.n, s.unpriced FROM summed s ORDER BY s.task_id, s.model
        ON CONFLICT (task_id, model) DO UPDATE SET cost_usd = m.cost_usd + EXCLUDED.cost_usd,
            usage_events = m.usage_events + EXCLUDED.usage_events, unpriced = m.unpriced + EXCLUDED.unpriced
        RETURNING m.task_id
    )
    SELECT array_agg(DISTINCT u.task_id) INTO touched FROM upserted u;
    IF touched IS NOT NULL THEN
        PERFORM economics_sync_tasks(touched);
    END IF;
END $$;
-- +goose StatementEnd

-- +goose StatementBegin
-- Usage events change their task's cost by model: inserted rows add; an update (a late price
-- filling cost_usd in) adds the new row and subtracts the old one. Events are never deleted.
-- (A trigger with transition tables fires for one kind of statement only, and a function may
-- name only the transition tables its trigger has, hence the two branches.)
CREATE FUNCTION economics_events_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t text[]; m text[]; c numeric[]; n bigint[]; u bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(task_id), array_agg(COALESCE(model, '')), array_agg(COALESCE(cost_usd, 0)),
            array_agg(1::bigint), array_agg((cost_usd IS NULL)::int::bigint)
        INTO t, m, c, n, u
        FROM new_rows WHERE type = 'task.usage';
    ELSE
        SELECT array_agg(d.task_id), array_agg(d.model), array_agg(d.cost_usd), array_agg(d.n), array_agg(d.unpriced)
        INTO t, m, c, n, u
        FROM (
            SELECT task_id, COALESCE(model, '') AS model, COALESCE(cost_usd, 0) AS cost_usd, 1::bigint AS n,
                (cost_usd IS NULL)::int::bigint AS unpriced
            FROM new_rows WHERE type = 'task.usage'
            UNION ALL
            SELECT task_id, COALESCE(model, ''), -COALESCE(cost_usd, 0), -1, -(cost_usd IS NULL)::int::bigint
            FROM old_rows WHERE type = 'task.usage'
        ) d;
    END IF;
    IF t IS NOT NULL THEN
        PERFORM economics_apply_costs(t, m, c, n, u);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER economics_events_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_events_changed();
CREATE TRIGGER economics_events_update AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_events_changed();

-- +goose StatementBegin
-- A change to a task's state (the workflow's SaveTaskState, a direct insert) re-syncs its row.
-- Only rows whose reported columns changed are synced: saves that change nothing here cost a join
-- of two one-row transition tables.
CREATE FUNCTION economics_tasks_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(task_id) INTO touched FROM new_rows;
    ELSE
        SELECT array_agg(n.task_id) INTO touched FROM new_rows n JOIN old_rows o ON o.task_id = n.task_id
        WHERE (n.customer_id, n.status, n.status_at, n.outcome_type, n.outcome, n.quality, n.created_at)
            IS DISTINCT FROM (o.customer_id, o.status, o.status_at, o.outcome_type, o.outcome, o.quality, o.created_at);
    END IF;
    IF touched IS NOT NULL THEN
        PERFORM economics_sync_tasks(touched);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER economics_tasks_insert AFTER INSERT ON tasks
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_tasks_changed();
CREATE TRIGGER economics_tasks_update AFTER UPDATE ON tasks
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_tasks_changed();

-- +goose StatementBegin
-- A customer's new billing timezone moves its tasks to other local days.
CREATE FUNCTION economics_customers_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched text[];
BEGIN
    SELECT array_agg(t.task_id) INTO touched
    FROM new_rows n JOIN old_rows o ON o.id = n.id JOIN tasks t ON t.customer_id = n.id
    WHERE n.timezone IS DISTINCT FROM o.timezone;
    IF touched IS NOT NULL THEN
        PERFORM economics_sync_tasks(touched);
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER economics_customers_update AFTER UPDATE ON customers
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_customers_changed();

-- +goose StatementBegin
-- economics_rollup_apply sums rows of figures (a sign of +1 for a task's new row, -1 for its old
-- one) per rollup key and adds them to economics_daily in key order.
CREATE FUNCTION economics_rollup_apply(d economics_daily[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO economics_daily AS r (customer_id, day, outcome_type, model, status, tasks, succeeded, partial, failed,
        escalated, quality_sum, quality_n, cost_usd, unpriced)
    SELECT customer_id, day, outcome_type, model, status, sum(tasks), sum(succeeded), sum(partial), sum(failed),
        sum(escalated), sum(quality_sum), sum(quality_n), sum(cost_usd), sum(unpriced)
    FROM unnest(d)
    GROUP BY customer_id, day, outcome_type, model, status
    HAVING sum(tasks) <> 0 OR sum(succeeded) <> 0 OR sum(partial) <> 0 OR sum(failed) <> 0 OR sum(escalated) <> 0
        OR sum(quality_sum) <> 0 OR sum(quality_n) <> 0 OR sum(cost_usd) <> 0 OR sum(unpriced) <> 0
    ORDER BY customer_id, day, outcome_type, model, status
    ON CONFLICT (customer_id, day, outcome_type, model, status) DO UPDATE SET tasks = r.tasks + EXCLUDED.tasks,
        succeeded = r.succeeded + EXCLUDED.succeeded, partial = r.partial + EXCLUDED.partial,
        failed = r.failed + EXCLUDED.failed, escalated = r.escalated + EXCLUDED.escalated,
        quality_sum = r.quality_sum + EXCLUDED.quality_sum, quality_n = r.quality_n + EXCLUDED.quality_n,
        cost_usd = r.cost_usd + EXCLUDED.cost_usd, unpriced = r.unpriced + EXCLUDED.unpriced
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
-- Every change to task_economics reaches economics_daily as a delta: the new rows' figures minus
-- the old rows'. Tasks are never deleted, so neither are their rows here.
CREATE FUNCTION economics_rollup_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM economics_rollup_apply(ARRAY(SELECT economics_contribution(n, 1) FROM new_rows n));
    ELSE
        PERFORM economics_rollup_apply(ARRAY(
            SELECT economics_contribution(n, 1) FROM new_rows n
            UNION ALL
            SELECT economics_contribution(o, -1) FROM old_rows o));
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER economics_rollup_insert AFTER INSERT ON task_economics
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_rollup_changed();
CREATE TRIGGER economics_rollup_update AFTER UPDATE ON task_economics
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION economics_rollup_changed();

-- +goose StatementBegin
-- economics_rebuild recomputes the three tables from tasks and events in a few set-based
-- statements: after a bulk load made with these triggers off, or to repair. It takes exclusive
-- locks on the tables it rebuilds (writers wait for it) and sums economics_daily in one
-- aggregate rather than through the row deltas.
CREATE FUNCTION economics_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE economics_daily, task_economics, task_model_costs;
    INSERT INTO task_model_costs (task_id, model, cost_usd, usage_events, unpriced)
    SELECT task_id, COALESCE(model, ''), COALESCE(sum(cost_usd), 0), count(*), count(*) FILTER (WHERE cost_usd IS NULL)
    FROM events WHERE type = 'task.usage' GROUP BY 1, 2;
    ALTER TABLE task_economics DISABLE TRIGGER economics_rollup_insert;
    INSERT INTO task_economics (task_id, customer_id, at, day, outcome_type, status, outcome, quality, model, cost_usd, unpriced)
    SELECT t.task_id, t.customer_id, COALESCE(t.status_at, t.created_at),
        (COALESCE(t.status_at, t.created_at) AT TIME ZONE c.timezone)::date, COALESCE(t.outcome_type, ''), t.status,
        t.outcome, t.quality, COALESCE(m.model, ''), COALESCE(m.cost_usd, 0), COALESCE(m.unpriced, 0)
    FROM tasks t
    JOIN customers c ON c.id = t.customer_id
    LEFT JOIN (
        SELECT task_id, sum(cost_usd) AS cost_usd, sum(unpriced) AS unpriced,
            (array_agg(model ORDER BY model = '', cost_usd DESC, usage_events DESC, model))[1] AS model
        FROM task_model_costs GROUP BY task_id
    ) m ON m.task_id = t.task_id;
    ALTER TABLE task_economics ENABLE TRIGGER economics_rollup_insert;
    INSERT INTO economics_daily (customer_id, day, outcome_type, model, status, tasks, succeeded, partial, failed,
        escalated, quality_sum, quality_n, cost_usd, unpriced)
    SELECT customer_id, day, outcome_type, model, status, count(*), count(*) FILTER (WHERE outcome = 'succeeded'),
        count(*) FILTER (WHERE outcome = 'partial'), count(*) FILTER (WHERE outcome = 'failed'),
        count(*) FILTER (WHERE outcome = 'escalated'), COALESCE(sum(quality), 0), count(quality), sum(cost_usd), sum(unpriced)
    FROM task_economics GROUP BY 1, 2, 3, 4, 5;
    ANALYZE task_model_costs;
    ANALYZE task_economics;
    ANALYZE economics_daily;
END $$;
-- +goose StatementEnd

SELECT economics_rebuild();
