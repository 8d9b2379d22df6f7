-- Version 2: the nodes sharing the database. Each node writes its heartbeat every second;
-- the live nodes (a heartbeat in the last few seconds) split the operator's cluster-wide
-- drain rate and intake limits among them.
CREATE TABLE nodes (
    name text PRIMARY KEY,
    instance bytea NOT NULL,
    started timestamptz NOT NULL DEFAULT now(),
    heartbeat timestamptz NOT NULL
);
