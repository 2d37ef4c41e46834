/**
 * The store at scale: N credentials and M audit rows (plus a run per ten credentials) in a real
 * PostgreSQL, filled in bulk with generate_series, then the queries operators run: the inventory
 * (listCredentials), the overdue count the metrics report, one credential's audit trail and runs.
 */
import { startPostgres } from '../../test/harness/postgres.js';
import { RotorStore } from '../../store/index.js';
import { listInventoryPage } from '../../store/inventory.js';
import { collectFacts } from '../../audit/facts.js';
import { runAudit } from '../../audit/index.js';
import { DEFAULT_THRESHOLDS } from '../../audit/types.js';
import { measure, numberArg, report } from '../lib.js';

const credentials = numberArg('credentials', 100_000);
const auditRows = numberArg('audit', 1_000_000);
const pg = await startPostgres();
const store = await RotorStore.connect(pg.url, { migrate: true });
try {
  const fill = await measure(async () => {
    await store.query(
      `INSERT INTO credentials (id, type, owner, purpose, environment, status, policy_hash, cadence_ms, current_material, last_rotated_at, next_due_at)
       SELECT 'cred-' || i, CASE WHEN i % 3 = 0 THEN 'aws-iam-access-key' ELSE 'postgres-password' END, 'team-' || (i % 200),
              'generated credential', 'production', 'managed', md5(i::text), 30::bigint * 86400000, 'cred_' || i || '_a',
              now() - (i % 60) * interval '1 day', now() - (i % 60) * interval '1 day' + interval '30 days'
       FROM generate_series(1, $1::int) AS i`,
      [credentials],
    );
    await store.query(
      `INSERT INTO rotation_runs (rotation_id, credential_id, workflow_id, run_id, trigger, outcome, step, started_at, finished_at)
       SELECT 'run-' || i, 'cred-' || (i * 10), 'rotate/cred-' || (i * 10), 'run-' || i, 'scheduled', 'succeeded', 'rotation.finished',
              now() - interval '1 day', now() - interval '1 day' + interval '1 minute'
       FROM generate_series(1, $1::int / 10) AS i`,
      [credentials],
    );
    await store.query(
      `INSERT INTO audit_log (at, credential_id, rotation_id, actor, event, detail, prev_hash, hash)
       SELECT now() - (($1::int - i) * interval '1 second'), 'cred-' || (1 + i % $2::int), 'run-' || (1 + i % ($2::int / 10)), 'rotor',
              (ARRAY['rotation.started','material.created','material.verified','dependent.written','material.promoted','material.revoked','rotation.finished'])[1 + i % 7],
              jsonb_build_object('material', 'cred_' || i || '_b'), md5((i - 1)::text) || md5((i - 1)::text), md5(i::text) || md5(i::text)
       FROM generate_series(1, $1::int) AS i`,
      [auditRows, credentials],
    );
    await store.query('ANALYZE');
  });
  const inventory = await measure(() => store.listCredentials());
  const overdue = await measure(() =>
    store.query<{ n: string }>(`SELECT count(*) AS n FROM credentials WHERE status = 'managed' AND next_due_at < now()`),
  );
  const overdueList = await measure(() =>
    store.query(`SELECT id, owner, next_due_at FROM credentials WHERE status = 'managed' AND next_due_at < now() ORDER BY next_due_at LIMIT 100`),
  );
  const trail = await measure(() => store.listAudit({ credentialId: 'cred-4242' }));
  const runs = await measure(() => store.listRuns('cred-4240'));
  // The console's inventory pages (store/inventory.ts): first, deep (by cursor), filtered and sorted, searched.
  const firstPage = await measure(() => listInventoryPage(store, { limit: 50 }));
  const deepCursor = (await listInventoryPage(store, { limit: 50, search: `cred-${Math.floor(credentials * 0.9)}` })).items.at(-1)?.subject;
  const deepPage = await measure(() => listInventoryPage(store, { limit: 50, descending: true, sort: 'nextDue', owner: 'team-7' }));
  const afterFirst = firstPage.value.next;
  const nextPage = await measure(() => listInventoryPage(store, { limit: 50, after: afterFirst }));
  const searchPage = await measure(() => listInventoryPage(store, { limit: 50, search: deepCursor ?? 'cred-9' }));
  // The posture the console caches (15 s) and `rotor audit` reports: facts and rules over everything.
  const posture = await measure(async () => {
    const now = new Date();
    const facts = await collectFacts(store, { now, failureWindowDays: 7 });
    return runAudit(facts, { now, policies: [], allowedOwners: [], thresholds: DEFAULT_THRESHOLDS });
  });
  // Audit appends from 16 concurrent callers (activities of different rotations), against the floor:
  // the same rows inserted without a chain, from as many callers.
  const APPENDS = 2000;
  const lanes = (work: (i: number) => Promise<unknown>) => measure(async () => {
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      for (let i = next++; i < APPENDS; i = next++) await work(i);
    }));
  });
  const appends = await lanes((i) => store.appendAudit({ credentialId: `cred-${i}`, rotationId: `run-${i}`, actor: 'rotor', event: 'material.created', detail: { material: `m-${i}` } }));
  const plainInserts = await lanes((i) =>
    store.query(`INSERT INTO audit_log (at, credential_id, rotation_id, actor, event, detail, prev_hash, hash) VALUES (now(), $1, $2, 'rotor', 'material.created', $3, '', '')`, [
      `cred-${i}`, `run-${i}`, JSON.stringify({ material: `m-${i}` }),
    ]),
  );
  const { rows: size } = await store.query<{ mb: string }>(`SELECT round(pg_database_size(current_database()) / 1048576.0) AS mb`);
  report({
    scenario: 'audit',
    credentials,
    auditRows,
    bulkFillMs: fill.wallMs,
    databaseMb: Number(size[0]?.mb),
    listCredentialsMs: inventory.wallMs,
    listCredentialsRows: inventory.value.length,
    overdueCountMs: overdue.wallMs,
    overdueCount: Number(overdue.value.rows[0]?.n),
    overdueTop100Ms: overdueList.wallMs,
    auditTrailOfOneCredentialMs: trail.wallMs,
    auditTrailRows: trail.value.length,
    runsOfOneCredentialMs: runs.wallMs,
    consoleFirstPageMs: firstPage.wallMs,
    consoleNextPageMs: nextPage.wallMs,
    consoleOwnerNextDueDescPageMs: deepPage.wallMs,
    consoleSearchPageMs: searchPage.wallMs,
    rotorAuditMs: posture.wallMs,
    rotorAuditFindings: posture.value.findings.length,
    auditAppendsPerSecond: Math.round(APPENDS / (appends.wallMs / 1000)),
    plainInsertsPerSecond: Math.round(APPENDS / (plainInserts.wallMs / 1000)),
    appendToFloor: Math.round((appends.wallMs / plainInserts.wallMs) * 100) / 100,
  });
} finally {
  await store.close();
  await pg.stop();
}
