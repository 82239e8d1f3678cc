-- +goose Up
-- An event's customer owns its task: the rule stays, checked per statement instead of per row.
--
-- The foreign key of events to task_keys (task_id, customer_id) checked every inserted event on
-- its own — an after-trigger queue entry, a look-up and a key-share lock each: 0.24 s of the
-- 1.6 s one chunk of 50,000 imported events took, the largest single part of the import beyond
-- its yardstick (docs/BENCHMARKS.md, § Import). The ingest statement refuses an event of another
-- customer's task before inserting it; this is the database's own guard of the same rule, now
-- taken once per statement over the distinct (task, customer) pairs inserted — a fifth of the
-- rows for the usual four or five events a task — and the cascade that moved events along with
-- a repaired key is a trigger of task_keys.
--
-- What a foreign key guaranteed under concurrency is kept: the check takes the same FOR KEY SHARE
-- lock on each key it finds, in task_id order, so a repair or delete of a key waits for the
-- inserting transaction, and a key changed by one that committed first is re-read by the lock and
-- no longer matches (its pair is then missing, and the insert fails).
ALTER TABLE events DROP CONSTRAINT events_task_customer_fkey;

-- +goose StatementBegin
-- events_task_keys_inserted raises foreign_key_violation when an inserted event's (task_id,
-- customer_id) has no task key. The probe is a LATERAL subquery with a locking clause, which the
-- planner cannot turn into a scan of task_keys: one index look-up per distinct pair.
CREATE FUNCTION events_task_keys_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    wanted bigint;
    found bigint;
    missing record;
BEGIN
    SELECT count(*), count(k.ok) INTO wanted, found
    FROM (SELECT DISTINCT task_id, customer_id FROM new_rows ORDER BY task_id, customer_id) n
    LEFT JOIN LATERAL (
        SELECT true AS ok FROM task_keys k WHERE k.task_id = n.task_id AND k.customer_id = n.customer_id FOR KEY SHARE
    ) k ON true;
    IF found < wanted THEN
        SELECT n.task_id, n.customer_id INTO missing FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM task_keys k WHERE k.task_id = n.task_id AND k.customer_id = n.customer_id)
        LIMIT 1;
        RAISE EXCEPTION 'insert into events: task % of customer % has no key in task_keys', missing.task_id, missing.customer_id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'events', CONSTRAINT = 'events_task_key';
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER events_task_key_insert AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION events_task_keys_inserted();

-- +goose StatementBegin
-- events_task_key_updated checks an event whose task or customer an UPDATE changed (rare: a
-- repair; repricing changes neither and does not fire it).
CREATE FUNCTION events_task_key_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM task_keys k WHERE k.task_id = NEW.task_id AND k.customer_id = NEW.customer_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'update of event %: task % of customer % has no key in task_keys', NEW.id, NEW.task_id, NEW.customer_id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'events', CONSTRAINT = 'events_task_key';
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER events_task_key_update AFTER UPDATE ON events
    FOR EACH ROW WHEN (OLD.task_id IS DISTINCT FROM NEW.task_id OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION events_task_key_updated();

-- +goose StatementBegin
-- task_keys_changed is the foreign key's other half: a repair that moves a task to another
-- customer (or renames it) takes its events along, as ON UPDATE CASCADE did (tasks follow by
-- their own key); a key with events cannot be deleted.
CREATE FUNCTION task_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        UPDATE events SET task_id = NEW.task_id, customer_id = NEW.customer_id
        WHERE task_id = OLD.task_id AND customer_id = OLD.customer_id;
    ELSIF EXISTS (SELECT 1 FROM events e WHERE e.task_id = OLD.task_id AND e.customer_id = OLD.customer_id) THEN
        RAISE EXCEPTION 'delete from task_keys: task % of customer % still has events', OLD.task_id, OLD.customer_id
            USING ERRCODE = 'foreign_key_violation', TABLE = 'task_keys', CONSTRAINT = 'events_task_key';
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER task_keys_update AFTER UPDATE ON task_keys
    FOR EACH ROW WHEN (OLD.task_id IS DISTINCT FROM NEW.task_id OR OLD.customer_id IS DISTINCT FROM NEW.customer_id)
    EXECUTE FUNCTION task_keys_changed();
CREATE TRIGGER task_keys_delete AFTER DELETE ON task_keys
    FOR EACH ROW EXECUTE FUNCTION task_keys_changed();
