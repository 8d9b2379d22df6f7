-- edld's state on PostgreSQL, version 1. Records are kept as JSON (the same documents the
-- sled engine stores) beside the columns the database indexes and checks: the invariants
-- below are the database's, not only edld's.

-- The registry.
CREATE TABLE licences (
    number text PRIMARY KEY,
    record jsonb NOT NULL
);

-- Applications. `open` is true while queued or in review; `reviewing` while waiting for a
-- reviewer; `preopen` names the lane of an application accepted before the opening time
-- and not yet in order. `created` orders a licence's applications.
CREATE TABLE applications (
    ticket bytea PRIMARY KEY CHECK (length(ticket) = 16),
    licence text NOT NULL,
    open boolean NOT NULL,
    reviewing boolean NOT NULL,
    preopen smallint,
    created_at bigint NOT NULL,
    created bigint GENERATED ALWAYS AS IDENTITY,
    record jsonb NOT NULL
);
-- Invariant: one open application per licence, whichever node admits it.
CREATE UNIQUE INDEX applications_one_open ON applications (licence) WHERE open;
CREATE INDEX applications_of_licence ON applications (licence, created);
CREATE INDEX applications_reviewing ON applications (ticket) WHERE reviewing;
CREATE INDEX applications_preopen ON applications (ticket) WHERE preopen IS NOT NULL;

-- Issued credentials. Invariants: one credential per application (issued exactly once),
-- and one credential per status list index.
CREATE TABLE credentials (
    id bytea PRIMARY KEY CHECK (length(id) = 16),
    licence text NOT NULL,
    ticket bytea NOT NULL UNIQUE,
    list integer NOT NULL,
    idx integer NOT NULL,
    superseded boolean NOT NULL,
    created bigint GENERATED ALWAYS AS IDENTITY,
    record jsonb NOT NULL,
    UNIQUE (list, idx)
);
CREATE INDEX credentials_of_licence ON credentials (licence, created);

-- The queue: one row per waiting application, in lanes (0 window, 1 reissue, 2 first).
-- A drain step claims rows (`claimed_by` its store instance, leased until `claimed_at`
-- plus the lease) and deletes them when its completion commits.
CREATE TABLE queue (
    lane smallint NOT NULL,
    sequence bigint NOT NULL,
    ticket bytea NOT NULL UNIQUE,
    claimed_by bytea,
    claimed_at timestamptz,
    PRIMARY KEY (lane, sequence)
);
CREATE SEQUENCE lane_sequence_0;
CREATE SEQUENCE lane_sequence_1;
CREATE SEQUENCE lane_sequence_2;

-- How far each lane has been served (positions are counted from it).
CREATE TABLE lanes (
    lane smallint PRIMARY KEY,
    served bigint NOT NULL
);
INSERT INTO lanes VALUES (0, 0), (1, 0), (2, 0);

-- Status list indices ever allocated, by any node: never handed out twice.
CREATE TABLE status_indices (
    list integer NOT NULL,
    idx integer NOT NULL,
    PRIMARY KEY (list, idx)
);

-- Operator state: throttle settings, the trust list's sequence, signing keys' first use.
CREATE TABLE meta (
    name text PRIMARY KEY,
    value jsonb NOT NULL
);

-- API clients by the SHA-256 of their key; names unique.
CREATE TABLE clients (
    key_hash bytea PRIMARY KEY,
    name text NOT NULL UNIQUE,
    record jsonb NOT NULL
);

-- The change audit chain: records as stored bytes (see `audit::chain`), numbered from 1
-- without gaps, and its head, locked by every transaction that appends.
CREATE TABLE audit (
    position bigint PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE audit_head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    next bigint NOT NULL,
    hash bytea NOT NULL
);
INSERT INTO audit_head VALUES (true, 1, decode(repeat('00', 32), 'hex'));
