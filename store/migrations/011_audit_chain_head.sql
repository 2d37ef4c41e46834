-- Up Migration

-- The head of the audit log's hash chain, in one row: an append updates it and inserts the row in
-- one statement (store/index.ts appendAudit), so the row lock on the head is held for that statement
-- only, and the chain is computed in SQL. This replaces a transaction-long advisory lock with a
-- read of the last row and three more round trips while holding it.
CREATE TABLE audit_chain_head (
  one       boolean PRIMARY KEY DEFAULT true CHECK (one),
  -- The hash of the last appended row, and of the one before it (returned by the update).
  hash      text NOT NULL,
  prev_hash text NOT NULL
);
INSERT INTO audit_chain_head (hash, prev_hash)
SELECT COALESCE((SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1), repeat('0', 64)), repeat('0', 64);

-- Down Migration
DROP TABLE audit_chain_head;
