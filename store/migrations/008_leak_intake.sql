-- Up Migration

-- A leak is one thing leaked (the fingerprint of the value) in one alert, whatever delivery id
-- GitHub (or a replayer: the HMAC does not cover the delivery id) sends it under. `action` says
-- what Rotor did about it: pending (matched, its emergency not yet started: retried until it is),
-- started, already-revoked (the value was dead already: nothing started) or none (unmanaged).
ALTER TABLE leak_reports ADD COLUMN leak_key text;
UPDATE leak_reports SET leak_key = 'delivery:' || delivery_id;
ALTER TABLE leak_reports ALTER COLUMN leak_key SET NOT NULL;
ALTER TABLE leak_reports DROP CONSTRAINT leak_reports_pkey;
ALTER TABLE leak_reports ADD PRIMARY KEY (leak_key);
ALTER TABLE leak_reports ADD COLUMN action text NOT NULL DEFAULT 'none'
  CHECK (action IN ('pending', 'started', 'already-revoked', 'none'));
-- Rows from before this migration were acted on as the old code did: started when matched.
UPDATE leak_reports SET action = 'started' WHERE status = 'managed';
ALTER TABLE leak_reports ADD COLUMN reason text;
ALTER TABLE leak_reports ADD COLUMN workflow_id text;
ALTER TABLE leak_reports ADD COLUMN attempts integer NOT NULL DEFAULT 0;
ALTER TABLE leak_reports ADD COLUMN last_error text;
-- A start in progress holds the row until then, so a redelivery and Rotor's own retry never race.
ALTER TABLE leak_reports ADD COLUMN claimed_until timestamptz;
ALTER TABLE leak_reports ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX leak_reports_pending ON leak_reports (updated_at) WHERE action = 'pending';

-- Down Migration
DROP INDEX leak_reports_pending;
ALTER TABLE leak_reports DROP CONSTRAINT leak_reports_pkey;
ALTER TABLE leak_reports ADD PRIMARY KEY (delivery_id);
ALTER TABLE leak_reports DROP COLUMN leak_key, DROP COLUMN action, DROP COLUMN reason, DROP COLUMN workflow_id,
  DROP COLUMN attempts, DROP COLUMN last_error, DROP COLUMN claimed_until, DROP COLUMN updated_at;
