-- Up Migration

-- The last policy in force for each credential (secret references only, never values), so a
-- credential whose policy file was removed can still be decommissioned.
ALTER TABLE credentials ADD COLUMN policy_snapshot jsonb;

-- Down Migration
ALTER TABLE credentials DROP COLUMN policy_snapshot;
