-- Up Migration

-- Whether the credential's system reports its use (AWS last used, GitHub last_used...). When it
-- does not (or the signal could not be read), a missing last_used_at means "unknown", not "never
-- used", and posture must not call the credential unused.
ALTER TABLE discovered_credentials ADD COLUMN usage_tracked boolean NOT NULL DEFAULT true;

-- Down Migration
ALTER TABLE discovered_credentials DROP COLUMN usage_tracked;
