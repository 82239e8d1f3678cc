-- +goose Up
-- Usage meters (tokens, cost) of a customer's period are summed over the events that occurred in
-- it; this index keeps that to the period's rows however long the history grows.
CREATE INDEX events_customer_time ON events (customer_id, occurred_at) WHERE type = 'task.usage';
