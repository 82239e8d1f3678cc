-- +goose Up
-- Foreign keys of the ingest path, checked once per row by PostgreSQL, were a third of a batch's
-- time in the database (docs/BENCHMARKS.md, issue 4). Two changes keep every guarantee and take
-- one check per event instead of three:
--
-- * An event references its task and its customer through one composite key: the event's
--   customer must be its task's owner — which ingest already makes so, and which the database
--   now enforces too — and the task's own key to customers covers the customer. ON UPDATE
--   CASCADE lets a repair move a task to another customer together with its events.
-- * An outbox row is written by the same statement as its event, from that insert's RETURNING,
--   and deleted once delivered: it cannot point at a missing event, and the key only cost a look-up
--   per row.
ALTER TABLE tasks ADD CONSTRAINT tasks_task_customer UNIQUE (task_id, customer_id);
ALTER TABLE events
    DROP CONSTRAINT events_customer_id_fkey,
    DROP CONSTRAINT events_task_id_fkey,
    ADD CONSTRAINT events_task_customer_fkey FOREIGN KEY (task_id, customer_id)
        REFERENCES tasks (task_id, customer_id) ON UPDATE CASCADE;
ALTER TABLE outbox DROP CONSTRAINT outbox_event_id_fkey;


-- +goose StatementBegin
-- Usage events change their task's cost. Since an event's customer is now its task's owner by
-- key, the dirty rows are taken from the transition tables alone — one per task, not per event —
-- instead of a look-up of every task.
CREATE OR REPLACE FUNCTION economics_events_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO economics_dirty (task_id, customer_id)
        SELECT DISTINCT task_id, customer_id FROM new_rows WHERE type = 'task.usage';
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO economics_dirty (task_id, customer_id)
        SELECT task_id, customer_id FROM new_rows WHERE type = 'task.usage'
        UNION
        SELECT task_id, customer_id FROM old_rows WHERE type = 'task.usage';
    ELSE
        INSERT INTO economics_dirty (task_id, customer_id)
        SELECT DISTINCT task_id, customer_id FROM old_rows WHERE type = 'task.usage';
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd
