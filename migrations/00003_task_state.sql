-- +goose Up
-- The state the task workflow folds from a task's events, written through its activities so that
-- reports and invoice runs read PostgreSQL, never Temporal. The columns are what queries filter
-- and sum on; state holds the whole fold for the workflow's next run.
ALTER TABLE tasks
    ADD COLUMN outcome_type        text,
    ADD COLUMN priority            text        NOT NULL DEFAULT 'normal',
    ADD COLUMN status_at           timestamptz,
    ADD COLUMN outcome             text,
    ADD COLUMN quality             numeric,
    ADD COLUMN outcome_at          timestamptz,
    ADD COLUMN billable_at         timestamptz,
    ADD COLUMN state               jsonb,
    ADD COLUMN version             bigint      NOT NULL DEFAULT 0,
    -- Set when a task already on a finalized invoice stops being billable (a late dispute): the
    -- next invoice run credits it instead of editing the finalized invoice.
    ADD COLUMN credit_note_pending boolean     NOT NULL DEFAULT false,
    ADD CONSTRAINT tasks_status CHECK (status IN ('open', 'verifying', 'billable', 'not_billable', 'expired'));

-- Invoice runs take a customer's tasks that became billable in a period.
CREATE INDEX tasks_billable ON tasks (customer_id, status_at) WHERE status = 'billable';
