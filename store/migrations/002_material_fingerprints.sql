-- Up Migration

-- SHA-256 fingerprints of every material a rotation created, one row per secret field, so a leaked
-- value (or a public id such as an AWS access key id) can be traced to its credential without Rotor
-- ever keeping the value itself.
CREATE TABLE material_fingerprints (
  credential_id text NOT NULL REFERENCES credentials (id),
  material_id   text NOT NULL,
  field         text NOT NULL,
  fingerprint   text NOT NULL,
  rotation_id   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (rotation_id, field)
);
CREATE INDEX material_fingerprints_value ON material_fingerprints (fingerprint);
CREATE INDEX material_fingerprints_material ON material_fingerprints (material_id);

-- Down Migration
DROP TABLE material_fingerprints;
