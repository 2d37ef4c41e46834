-- Up Migration

-- Leak reports received (e.g. GitHub secret scanning alerts): the delivery id makes a replayed
-- webhook a no-op; only the SHA-256 of the leaked value is kept, never the value.
CREATE TABLE leak_reports (
  delivery_id   text PRIMARY KEY,
  source        text NOT NULL,
  secret_type   text,
  fingerprint   text NOT NULL,
  location      text,
  credential_id text,
  -- managed: matched a credential and rotated; unmanaged: matched nothing Rotor manages
  status        text NOT NULL CHECK (status IN ('managed', 'unmanaged')),
  received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leak_reports_status ON leak_reports (status, received_at DESC);

-- Down Migration
DROP TABLE leak_reports;
