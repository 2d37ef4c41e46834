-- Up Migration

-- Credentials no API can rotate (`kind: manual-credential`): kept in the inventory as 'manual'
-- so audits list them and the reminders job can warn their owners before they expire.
ALTER TABLE credentials DROP CONSTRAINT credentials_status_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_status_check CHECK (status IN ('managed', 'unmanaged', 'retired', 'manual'));

-- One row per reminder sent, so each goes out once per expiry date even when the job runs again;
-- moving `expires` forward (after rotating by hand) starts the reminders over.
CREATE TABLE manual_reminders (
  credential_id text NOT NULL REFERENCES credentials (id),
  expires       date NOT NULL,
  -- the remindBefore duration (e.g. 14d), or 'expired'
  reminder      text NOT NULL,
  sent_at       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (credential_id, expires, reminder)
);

-- Down Migration
DROP TABLE manual_reminders;
UPDATE credentials SET status = 'retired' WHERE status = 'manual';
ALTER TABLE credentials DROP CONSTRAINT credentials_status_check;
ALTER TABLE credentials ADD CONSTRAINT credentials_status_check CHECK (status IN ('managed', 'unmanaged', 'retired'));
