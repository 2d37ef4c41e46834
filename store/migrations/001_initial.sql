-- Up Migration

-- The NHI inventory: every credential Rotor manages or has discovered.
CREATE TABLE credentials (
  id               text PRIMARY KEY,
  type             text NOT NULL,
  owner            text,
  purpose          text,
  environment      text,
  expires          date,
  -- managed: a policy exists; unmanaged: discovered only; retired: policy removed or decommissioned
  status           text NOT NULL DEFAULT 'managed' CHECK (status IN ('managed', 'unmanaged', 'retired')),
  policy_hash      text,
  cadence_ms       bigint,
  current_material text,
  last_rotated_at  timestamptz,
  next_due_at      timestamptz,
  first_seen_at    timestamptz NOT NULL DEFAULT now(),
  last_seen_at     timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per rotation; rotation_id is the idempotency key every provider call carries.
CREATE TABLE rotation_runs (
  rotation_id   text PRIMARY KEY,
  credential_id text NOT NULL REFERENCES credentials (id),
  workflow_id   text NOT NULL,
  run_id        text NOT NULL,
  trigger       text NOT NULL CHECK (trigger IN ('scheduled', 'manual', 'emergency')),
  reason        text,
  outcome       text NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'succeeded', 'rolled_back', 'failed', 'aborted')),
  step          text,
  error         text,
  old_material  text,
  new_material  text,
  started_at    timestamptz NOT NULL DEFAULT now(),
  finished_at   timestamptz
);
CREATE INDEX rotation_runs_credential ON rotation_runs (credential_id, started_at DESC);

-- Each protocol step of a run, with its timing.
CREATE TABLE rotation_steps (
  rotation_id text NOT NULL REFERENCES rotation_runs (rotation_id),
  step        text NOT NULL,
  status      text NOT NULL CHECK (status IN ('started', 'succeeded', 'failed', 'skipped')),
  detail      text,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rotation_steps_run ON rotation_steps (rotation_id, at);

-- Append-only audit trail. Each row carries the hash of the row before it, so an edit or a
-- deletion breaks the chain (checked by `rotor audit verify-log`).
CREATE TABLE audit_log (
  seq           bigserial PRIMARY KEY,
  at            timestamptz NOT NULL DEFAULT now(),
  credential_id text,
  rotation_id   text,
  actor         text NOT NULL,
  event         text NOT NULL,
  detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash     text NOT NULL,
  hash          text NOT NULL
);
CREATE INDEX audit_log_credential ON audit_log (credential_id, seq);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- Down Migration
DROP TABLE audit_log;
DROP FUNCTION audit_log_append_only;
DROP TABLE rotation_steps;
DROP TABLE rotation_runs;
DROP TABLE credentials;
