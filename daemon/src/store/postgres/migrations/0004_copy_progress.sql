-- Version 4: the checkpoint of `edld store copy`. One row while a copy of a sled data
-- directory is under way or done: the source's digest (SHA-256 of its keys and values),
-- how many records of its stream are in (written in the transaction of each batch), and
-- whether the copy finished. A node refuses to start on a database with an unfinished copy.
CREATE TABLE copy_progress (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    source bytea NOT NULL CHECK (length(source) = 32),
    location text NOT NULL,
    total bigint NOT NULL,
    done bigint NOT NULL,
    finished boolean NOT NULL DEFAULT false,
    started timestamptz NOT NULL DEFAULT now(),
    updated timestamptz NOT NULL DEFAULT now()
);
