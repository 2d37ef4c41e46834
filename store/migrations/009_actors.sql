-- Up Migration

-- Who asked for an action and why. `actor` stays the one-string id (`oidc:<sub>`, `token:<name>`,
-- `cli:<user>`, or `rotor` for the workflow's own steps); `actor_info` holds the rest of the actor
-- (kind, subject, display name, roles at the time) and `reason` the reason given. Both are covered by
-- the row's hash when set; rows from before this migration have neither and hash as they always did.
ALTER TABLE audit_log ADD COLUMN actor_info jsonb;
ALTER TABLE audit_log ADD COLUMN reason text;

-- Down Migration
ALTER TABLE audit_log DROP COLUMN actor_info, DROP COLUMN reason;
