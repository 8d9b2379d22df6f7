-- Version 7: the notification outbox. Events are written by the transaction of the change
-- that causes them, as one delivery row per subscription that wants each; a delivery row
-- lives until the subscriber acknowledged it (or it is dead-lettered, until replayed).

-- Operators' subscriptions (`Subscription` JSON); `created` numbers them as added.
CREATE TABLE subscriptions (
    id text PRIMARY KEY,
    created bigint GENERATED ALWAYS AS IDENTITY,
    record jsonb NOT NULL
);

-- Events written per subscription, a counter per node (no row every node updates).
CREATE TABLE outbox_written (
    subscription text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    node text NOT NULL,
    n bigint NOT NULL,
    PRIMARY KEY (subscription, node)
);

-- Every event's sequence (its `webhook-id`), shared by every node.
CREATE SEQUENCE outbox_sequence;

-- Deliveries owed. Per subscription and licence only the oldest owed (not dead) row is
-- ever claimed: it alone has a due time (`next_at`; a claim sets it to the end of its
-- lease), the rows behind it wait (NULL) until it is delivered or dead-lettered, so a
-- subscriber's backlog is never scanned by claims.
CREATE TABLE deliveries (
    subscription text NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
    sequence bigint NOT NULL,
    licence text NOT NULL,
    event jsonb NOT NULL,
    event_at bigint NOT NULL,
    next_at bigint,
    attempts integer NOT NULL DEFAULT 0,
    started bigint NOT NULL,
    last_error text,
    dead boolean NOT NULL DEFAULT false,
    PRIMARY KEY (subscription, sequence)
);
-- What is due, for claims.
CREATE INDEX deliveries_due ON deliveries (next_at, sequence) WHERE NOT dead;
-- The earlier rows of a licence to a subscription, for the order of claims.
CREATE INDEX deliveries_of_licence ON deliveries (subscription, licence, sequence) WHERE NOT dead;
-- Dead letters, for listing and replay.
CREATE INDEX deliveries_dead ON deliveries (sequence) WHERE dead;

-- `credential.expiring` is written once per credential: the mark, and an index of the
-- current credentials not yet noted by their `exp`.
ALTER TABLE credentials ADD COLUMN expiring_noted boolean NOT NULL DEFAULT false;
CREATE INDEX credentials_expiry ON credentials (((record ->> 'expires_at')::bigint))
    WHERE NOT superseded AND NOT expiring_noted;
