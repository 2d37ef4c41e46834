-- Up Migration

-- Credentials found by discovery: what each system lists (AWS access keys of a user, login roles
-- of a database), managed or not. One row per (source type, principal, credential id); a later
-- scan updates it. `managed_by` names the policy whose current material it is; NULL is unmanaged.
CREATE TABLE discovered_credentials (
  source_type   text NOT NULL,
  principal     text NOT NULL,
  credential_id text NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  created_at    timestamptz,
  last_used_at  timestamptz,
  expires_at    timestamptz,
  -- gone: listed by an earlier scan of its principal, not by the latest one
  status        text NOT NULL CHECK (status IN ('active', 'inactive', 'expired', 'gone')),
  managed_by    text,
  -- Over-privilege evidence of the principal (e.g. "AdministratorAccess attached"), never secrets.
  broad_privileges jsonb NOT NULL DEFAULT '[]'::jsonb,
  PRIMARY KEY (source_type, principal, credential_id)
);
CREATE INDEX discovered_credentials_managed ON discovered_credentials (managed_by);

-- Decommissioned on purpose (`rotor decommission`), unlike a removed policy. The reconciler's
-- inventory upsert sets status 'managed' again while the policy file is still there; the trigger
-- keeps a decommissioned credential retired until its policy is removed.
ALTER TABLE credentials ADD COLUMN decommissioned_at timestamptz;

CREATE FUNCTION credentials_keep_decommissioned() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.decommissioned_at IS NOT NULL AND NEW.decommissioned_at IS NOT NULL THEN
    NEW.status := 'retired';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER credentials_decommissioned_stay_retired BEFORE UPDATE ON credentials
  FOR EACH ROW EXECUTE FUNCTION credentials_keep_decommissioned();

-- Down Migration
DROP TRIGGER credentials_decommissioned_stay_retired ON credentials;
DROP FUNCTION credentials_keep_decommissioned;
ALTER TABLE credentials DROP COLUMN decommissioned_at;
DROP TABLE discovered_credentials;
