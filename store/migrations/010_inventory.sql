-- Up Migration

-- The console's inventory: every credential in one list, managed, manual and retired ones from
-- `credentials`, and discovered ones no policy manages. Sort keys never are NULL (keyset pages
-- compare them as rows), and each has an index so a page is an index range scan at 100,000 rows.
CREATE VIEW inventory_items AS
  SELECT c.id AS subject, c.status, c.type, c.owner, c.purpose, c.environment,
         c.current_material AS material_id, c.last_rotated_at, c.next_due_at, NULL::text AS state,
         COALESCE(c.owner, '') AS owner_key, COALESCE(c.environment, '') AS environment_key,
         COALESCE(c.next_due_at, 'infinity'::timestamptz) AS next_due_key,
         COALESCE(c.last_rotated_at, '-infinity'::timestamptz) AS last_rotated_key
  FROM credentials c
  UNION ALL
  SELECT d.source_type || ':' || d.principal || '/' || d.credential_id, 'discovered', d.source_type, NULL, NULL, NULL,
         d.credential_id, NULL, NULL, d.status,
         '', '', 'infinity'::timestamptz, COALESCE(d.created_at, '-infinity'::timestamptz)
  FROM discovered_credentials d WHERE d.managed_by IS NULL AND d.status <> 'gone';

CREATE INDEX credentials_inventory_owner ON credentials ((COALESCE(owner, '')), id);
CREATE INDEX credentials_inventory_type ON credentials (type, id);
CREATE INDEX credentials_inventory_status ON credentials (status, id);
CREATE INDEX credentials_inventory_environment ON credentials ((COALESCE(environment, '')), id);
CREATE INDEX credentials_inventory_next_due ON credentials ((COALESCE(next_due_at, 'infinity'::timestamptz)), id);
CREATE INDEX credentials_inventory_last_rotated ON credentials ((COALESCE(last_rotated_at, '-infinity'::timestamptz)), id);
CREATE INDEX discovered_inventory_subject ON discovered_credentials ((source_type || ':' || principal || '/' || credential_id))
  WHERE managed_by IS NULL AND status <> 'gone';

-- Down Migration
DROP INDEX discovered_inventory_subject;
DROP INDEX credentials_inventory_last_rotated;
DROP INDEX credentials_inventory_next_due;
DROP INDEX credentials_inventory_environment;
DROP INDEX credentials_inventory_status;
DROP INDEX credentials_inventory_type;
DROP INDEX credentials_inventory_owner;
DROP VIEW inventory_items;
