-- Version 3: which status list entries changed, so that every node keeps its status lists
-- in step with the changes other nodes make (a revocation at one node is in the lists
-- every node signs within a second).
--
-- Triggers write a row in the same transaction as the change, whatever command made it:
-- a licence whose state changes names all its credentials' entries, a credential
-- superseded names its own. A row holds only the entry and the writing transaction's id;
-- readers derive the value from the credential and its licence, so a row read twice, or
-- out of order, never sets a stale value. Readers ask for the rows of transactions that
-- had not finished at their previous read (`txid >=` that read's snapshot xmin), which
-- no commit order can hide from them. Rows older than an hour are deleted by the nodes.
CREATE TABLE status_changes (
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at timestamptz NOT NULL DEFAULT now(),
    list integer NOT NULL,
    idx integer NOT NULL
);
CREATE INDEX status_changes_by_txid ON status_changes (txid);
CREATE INDEX status_changes_by_age ON status_changes (at);

CREATE FUNCTION status_changes_of_licence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO status_changes (list, idx)
        SELECT list, idx FROM credentials WHERE licence = NEW.number;
    RETURN NULL;
END $$;

CREATE TRIGGER licence_state_changed AFTER UPDATE ON licences FOR EACH ROW
    WHEN (OLD.record -> 'state' IS DISTINCT FROM NEW.record -> 'state')
    EXECUTE FUNCTION status_changes_of_licence();

CREATE FUNCTION status_changes_of_credential() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO status_changes (list, idx) VALUES (NEW.list, NEW.idx);
    RETURN NULL;
END $$;

CREATE TRIGGER credential_superseded AFTER UPDATE ON credentials FOR EACH ROW
    WHEN (OLD.superseded IS DISTINCT FROM NEW.superseded)
    EXECUTE FUNCTION status_changes_of_credential();
