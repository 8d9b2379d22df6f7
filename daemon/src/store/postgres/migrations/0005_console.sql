-- Version 5: the operator console. The audit records of operator changes (throttle
-- settings, pause and resume, API clients: `audit::is_operator_change`) are marked and
-- indexed, so the console's trail reads the newest of them without scanning the chain.
ALTER TABLE audit ADD COLUMN operator boolean NOT NULL DEFAULT false;
UPDATE audit SET operator = true
    WHERE convert_from(record, 'UTF8')::jsonb->>'action' LIKE 'throttle.%'
       OR convert_from(record, 'UTF8')::jsonb->>'action' LIKE 'client.%';
CREATE INDEX audit_operator ON audit (position) WHERE operator;

-- The reviewer's desk lists the uploads waiting for review oldest first (when they were
-- made, then in the order admitted), paged with a limit, through this index.
DROP INDEX applications_reviewing;
CREATE INDEX applications_reviewing ON applications (created_at, created) WHERE reviewing;
