-- +goose Up
-- Invoices, their lines and the tasks they billed, gapless invoice and credit-note numbers, and
-- credit notes. A finalized invoice is immutable and a credit note is immutable from birth: the
-- triggers below enforce that in the database, whatever the code above it does.

-- The vendor's own details, printed on every invoice. One row; an invoice copies it when it is
-- built, so that a finalized invoice keeps the details it was sent with.
CREATE TABLE vendor_profile (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    name       text        NOT NULL,
    address    text        NOT NULL DEFAULT '',
    email      text        NOT NULL DEFAULT '',
    tax_id     text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE invoices (
    id                   text PRIMARY KEY,
    customer_id          text        NOT NULL REFERENCES customers (id),
    customer_name        text        NOT NULL,
    -- The customer's billing timezone, in which the period's bounds are midnights.
    timezone             text        NOT NULL DEFAULT 'UTC',
    vendor               jsonb       NOT NULL DEFAULT '{}',
    period_start         timestamptz NOT NULL,
    period_end           timestamptz NOT NULL,
    status               text        NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'finalized', 'void')),
    currency             char(3)     NOT NULL,
    number               text UNIQUE,
    issue_date           date,
    plan_id              text,
    plan_version         integer,
    subtotal             numeric     NOT NULL,
    credits_applied      numeric     NOT NULL,
    total                numeric     NOT NULL,
    -- What the prepaid-credits line drew from which grant; applied to the grants at finalization.
    credit_draws         jsonb       NOT NULL DEFAULT '[]',
    -- Rating warnings kept with the invoice: outcomes of types the plan does not price, usage
    -- without a model price, expired grants.
    notes                jsonb       NOT NULL DEFAULT '{}',
    -- The value statement (DESIGN.md §6): what the billed outcomes would have cost in people.
    value_outcomes       bigint      NOT NULL DEFAULT 0,
    value_hours          numeric     NOT NULL DEFAULT 0,
    value_labor_cost     numeric,
    value_labor_currency char(3),
    value_savings        numeric,
    value_fte            numeric     NOT NULL DEFAULT 0,
    void_reason          text,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    finalized_at         timestamptz,
    voided_at            timestamptz,
    CHECK (period_end > period_start),
    CHECK ((status = 'draft') = (number IS NULL)),
    CHECK ((status = 'draft') = (issue_date IS NULL)),
    CHECK ((status = 'void') = (void_reason IS NOT NULL AND voided_at IS NOT NULL)),
    CHECK (total = subtotal - credits_applied)
);
-- One live invoice per customer and period: running the invoice run twice finds the same one.
-- A void invoice stays where it is; whether a voided period is billed again is the caller's call.
CREATE UNIQUE INDEX invoices_period ON invoices (customer_id, period_start, period_end) WHERE status <> 'void';
CREATE INDEX invoices_customer ON invoices (customer_id, period_start);

CREATE TABLE invoice_lines (
    invoice_id       text    NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position         integer NOT NULL CHECK (position >= 1),
    kind             text    NOT NULL,
    description      text    NOT NULL,
    outcome_type     text    NOT NULL DEFAULT '',
    meter            text    NOT NULL DEFAULT '',
    quantity         numeric NOT NULL,
    unit_amount      numeric,
    amount           numeric NOT NULL, -- rounded once to the currency's minor unit
    explanation      jsonb   NOT NULL,
    explanation_text text    NOT NULL,
    PRIMARY KEY (invoice_id, position)
);

-- The tasks an invoice billed, as they were when it was built, so that a task disputed after
-- finalization can be credited for what it was billed as.
CREATE TABLE invoice_tasks (
    invoice_id   text NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    -- No foreign key to tasks: rows are copied from tasks in the statement that inserts them, and
    -- tasks are never deleted, while a per-row key check doubled the cost of billing 100k tasks.
    task_id      text NOT NULL,
    outcome_type text NOT NULL,
    outcome      text NOT NULL,
    urgent       boolean NOT NULL,
    PRIMARY KEY (invoice_id, task_id)
);
CREATE INDEX invoice_tasks_task ON invoice_tasks (task_id);

-- Gapless counters, one row per series and year. A number is taken with UPDATE ... RETURNING in
-- the transaction that finalizes, so concurrent finalizations queue on the row and a rolled-back
-- one gives its number back.
CREATE TABLE invoice_numbers (
    series text    NOT NULL CHECK (series IN ('invoice', 'credit_note')),
    year   integer NOT NULL,
    last   bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (series, year)
);

CREATE TABLE credit_notes (
    id          text PRIMARY KEY,
    number      text        NOT NULL UNIQUE,
    customer_id text        NOT NULL REFERENCES customers (id),
    currency    char(3)     NOT NULL,
    issue_date  date        NOT NULL,
    total       numeric     NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX credit_notes_customer ON credit_notes (customer_id, created_at);

CREATE TABLE credit_note_lines (
    credit_note_id text    NOT NULL REFERENCES credit_notes (id),
    position       integer NOT NULL CHECK (position >= 1),
    invoice_id     text    NOT NULL REFERENCES invoices (id),
    task_id        text    NOT NULL,
    description    text    NOT NULL,
    amount         numeric NOT NULL,
    explanation    text    NOT NULL,
    PRIMARY KEY (credit_note_id, position),
    -- A task is credited once per invoice that billed it.
    UNIQUE (invoice_id, task_id),
    FOREIGN KEY (invoice_id, task_id) REFERENCES invoice_tasks (invoice_id, task_id)
);

-- +goose StatementBegin
-- An invoice row may change freely while a draft. Once finalized, the one change allowed is to
-- void it, setting status, void_reason and voided_at and nothing else; a void invoice never
-- changes. Finalizing checks that the totals are the sums of the lines.
CREATE FUNCTION invoices_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    line_sum numeric;
    sub_sum  numeric;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % is %: it cannot be deleted', OLD.id, OLD.status USING ERRCODE = 'P0001';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status = 'void' THEN
        RAISE EXCEPTION 'invoice % is void: it cannot be changed', OLD.id USING ERRCODE = 'P0001';
    END IF;
    IF OLD.status = 'finalized' THEN
        IF NEW.status <> 'void'
           OR (to_jsonb(NEW) - 'status' - 'void_reason' - 'voided_at')
              IS DISTINCT FROM (to_jsonb(OLD) - 'status' - 'void_reason' - 'voided_at') THEN
            RAISE EXCEPTION 'invoice % is finalized: only voiding it (status, void_reason, voided_at) is allowed', OLD.id
                USING ERRCODE = 'P0001';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.status = 'void' THEN
        RAISE EXCEPTION 'invoice % is a draft: only a finalized invoice can be voided', OLD.id USING ERRCODE = 'P0001';
    END IF;
    IF NEW.status = 'finalized' THEN
        SELECT COALESCE(sum(amount), 0), COALESCE(sum(amount) FILTER (WHERE kind <> 'prepaid_credits'), 0)
          INTO line_sum, sub_sum FROM invoice_lines WHERE invoice_id = NEW.id;
        IF line_sum <> NEW.total OR sub_sum <> NEW.subtotal THEN
            RAISE EXCEPTION 'invoice %: total % and subtotal % are not the sums of the lines (% and %)',
                NEW.id, NEW.total, NEW.subtotal, line_sum, sub_sum USING ERRCODE = 'P0001';
        END IF;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

CREATE TRIGGER invoices_guard BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_guard();

-- +goose StatementBegin
-- Lines and billed tasks belong to a draft until it is finalized; after that no row of them may be
-- added, changed or removed. Deleting a draft invoice cascades here while it is still a draft.
CREATE FUNCTION invoice_children_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    inv_id text;
    st     text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        inv_id := NEW.invoice_id;
    ELSE
        inv_id := OLD.invoice_id;
    END IF;
    SELECT status INTO st FROM invoices WHERE id = inv_id;
    IF st IS NOT NULL AND st <> 'draft' THEN
        RAISE EXCEPTION 'invoice % is %: its % cannot be changed', inv_id, st, TG_TABLE_NAME USING ERRCODE = 'P0001';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.invoice_id <> OLD.invoice_id THEN
        RAISE EXCEPTION '% cannot move to another invoice', TG_TABLE_NAME USING ERRCODE = 'P0001';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END $$;
-- +goose StatementEnd

CREATE TRIGGER invoice_lines_guard BEFORE INSERT OR UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION invoice_children_guard();
-- An invoice bills up to hundreds of thousands of tasks, so its billed-task rows are guarded per
-- statement: one look-up of the invoices a statement touches instead of one per row.
CREATE TRIGGER invoice_tasks_guard_update BEFORE UPDATE ON invoice_tasks
    FOR EACH ROW EXECUTE FUNCTION invoice_children_guard();

-- Both statement triggers name their transition table changed_rows, so one function serves them.
-- +goose StatementBegin
CREATE FUNCTION invoice_tasks_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad text;
BEGIN
    -- A draft deleted as a whole cascades here; its row is gone, so it matches nothing.
    SELECT i.id || ' is ' || i.status INTO bad
    FROM (SELECT DISTINCT invoice_id FROM changed_rows) r JOIN invoices i ON i.id = r.invoice_id
    WHERE i.status <> 'draft' LIMIT 1;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'invoice %: its invoice_tasks cannot be changed', bad USING ERRCODE = 'P0001';
    END IF;
    RETURN NULL;
END $$;
-- +goose StatementEnd

CREATE TRIGGER invoice_tasks_guard_insert AFTER INSERT ON invoice_tasks
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION invoice_tasks_changed();
CREATE TRIGGER invoice_tasks_guard_delete AFTER DELETE ON invoice_tasks
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION invoice_tasks_changed();

-- +goose StatementBegin
-- A credit note is issued whole, with its number, and then never changes.
CREATE FUNCTION credit_notes_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable once issued', TG_TABLE_NAME USING ERRCODE = 'P0001';
END $$;
-- +goose StatementEnd

CREATE TRIGGER credit_notes_guard BEFORE UPDATE OR DELETE ON credit_notes
    FOR EACH ROW EXECUTE FUNCTION credit_notes_guard();
CREATE TRIGGER credit_note_lines_guard BEFORE UPDATE OR DELETE ON credit_note_lines
    FOR EACH ROW EXECUTE FUNCTION credit_notes_guard();
