/**
 * Scale of planning: what `rotor plan` computes — load and validate every policy file, derive each
 * schedule, diff against what Temporal holds — for many generated policies (10 per file). Half of
 * them are "already scheduled" (unchanged), a tenth changed, the rest new, plus some to delete.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicies } from '../../config/load.js';
import { desiredSchedule, planScheduleChanges, type ExistingSchedule } from '../../daemon/schedules.js';
import { registry } from '../../providers/registry.js';
import { measure, numberArg, report, round } from '../lib.js';

const n = numberArg('policies', 10_000);
const PER_FILE = 10;
const dir = await mkdtemp(join(tmpdir(), 'rotor-bench-plan-'));

function policy(i: number): string {
  return `id: svc-${i}
owner: team-${i % 50}
purpose: Generated service login ${i}
environment: production
credential:
  type: postgres-password
  host: db-${i % 20}.internal
  database: app
  admin: { user: rotor_admin, password: env:PG_ADMIN_PASSWORD }
  role: svc_${i}
schedule:
  every: ${30 + (i % 7)}d
  jitter: 1h
store:
  type: vault-kv
  address: https://vault.internal:8200
  token: env:VAULT_TOKEN
  path: rotor/svc-${i}
dependents:
  - name: app
    type: vault-kv
    address: https://vault.internal:8200
    token: env:VAULT_TOKEN
    path: apps/svc-${i}/db
`;
}

try {
  const write = await measure(async () => {
    for (let f = 0; f < n / PER_FILE; f++) {
      const sub = join(dir, `team-${f % 100}`);
      await mkdir(sub, { recursive: true });
      const docs = Array.from({ length: PER_FILE }, (_, k) => policy(f * PER_FILE + k));
      await writeFile(join(sub, `policies-${f}.yaml`), docs.join('---\n'));
    }
  });
  const load = await measure(() => loadPolicies(dir, registry.catalog));
  const policies = load.value;
  const desire = await measure(async () => policies.map((p) => desiredSchedule(p, registry, 'rotor')));
  const existing: ExistingSchedule[] = desire.value.slice(0, Math.floor(n / 2)).map((d, i) => ({
    scheduleId: d.scheduleId,
    hash: i % 5 === 0 ? 'stale-hash' : d.hash,
    paused: false,
  }));
  for (let i = 0; i < n / 100; i++) existing.push({ scheduleId: `rotor/gone-${i}`, hash: 'x', paused: false });
  const plan = await measure(async () => planScheduleChanges(desire.value, existing));
  const kinds: Record<string, number> = {};
  for (const c of plan.value) kinds[c.kind] = (kinds[c.kind] ?? 0) + 1;
  report({
    scenario: 'plan',
    policies: policies.length,
    files: n / PER_FILE,
    writeFilesMs: write.wallMs,
    loadPoliciesMs: load.wallMs,
    desiredScheduleMs: desire.wallMs,
    planChangesMs: plan.wallMs,
    totalPlanMs: load.wallMs + desire.wallMs + plan.wallMs,
    totalCpuMs: round(load.cpuMs + desire.cpuMs + plan.cpuMs),
    changes: kinds,
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}
