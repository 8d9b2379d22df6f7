-- Version 6: what each node publishes with its heartbeat (its queue, drain, health and
-- version), so the operator console of any node shows every node sharing the database.
ALTER TABLE nodes ADD COLUMN figures jsonb NOT NULL DEFAULT '{}'::jsonb;
