/**
 * Issue 19, first bullet: `rotor rotate --emergency` and `rotor leak` act on the target credential
 * whenever its own document is valid, whatever else in the directory is broken, and say which other
 * files are broken; everything that changes schedules (apply) stays all-or-nothing. Against the
 * in-memory Temporal server (no worker needed: the emergency is started, not run) and, for leak, a
 * real PostgreSQL holding the leaked value's fingerprint.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connectTemporalClient, loopbackTemporalTarget, withTemporalClient } from '../../daemon/temporal-connection.js';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { incidentPolicy, inspectPolicyDirectory, loadPolicies, PolicyLoadError } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import { RotorStore } from '../../store/index.js';
import { inventoryEntry } from '../../daemon/inventory.js';
import { fingerprintValue } from '../../lib/material.js';
import { runCli } from '../../cli/main.js';
import { captureOutput } from '../harness/cli.js';
import { registerSearchAttributes } from '../../daemon/history.js';
import { startTemporalServer, type TestServer } from '../harness/temporal-server.js';
import { startPostgres, type PostgresServer } from '../harness/postgres.js';
import { tempDir, validPolicy } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let temporal: TestServer;
let postgres: PostgresServer;

beforeAll(async () => {
  ({ dir, remove } = await tempDir('rotor-incident-'));
  [temporal, postgres] = await Promise.all([startTemporalServer({ kind: 'dev' }), startPostgres()]);
  // As `rotor migrate` would: only it and the daemon change the store's schema.
  await (await RotorStore.connect(postgres.url, { migrate: true })).close();
  // As the daemon does at start: declare Rotor's search attributes on the real server.
  const connection = await connectTemporalClient(loopbackTemporalTarget(temporal.address, temporal.namespace));
  await registerSearchAttributes(connection, temporal.namespace).finally(() => connection.close());
  await writeFile(join(dir, 'demo.yaml'), validPolicy('demo-db-app'));
  await writeFile(join(dir, 'legacy.yaml'), validPolicy('legacy-db').replace('owner: team-payments', 'ownr: team-payments')); // the unrelated typo
}, 120_000);
afterAll(async () => {
  await temporal?.close();
  await postgres?.stop();
  await remove();
});
afterEach(() => vi.restoreAllMocks());

const cli = (...args: string[]) => runCli([...args, '--policies', dir, '--temporal', temporal.address, '--database-url', postgres.url, '--task-queue', 'rotor-incident']);

async function running(workflowId: string): Promise<boolean> {
  const described = await withTemporalClient(loopbackTemporalTarget(temporal.address, temporal.namespace), (client) => client.workflow.getHandle(workflowId).describe());
  return described.status.name === 'RUNNING';
}

describe('the loader API for incidents', () => {
  it('gives the target when its own document is valid, with the other files problems', async () => {
    const inspection = await inspectPolicyDirectory(dir, registry.catalog);
    const { policy, otherProblems } = incidentPolicy(inspection, 'demo-db-app');
    expect(policy?.id).toBe('demo-db-app');
    expect(otherProblems.map((p) => p.file)).toContain(join(dir, 'legacy.yaml'));
    expect(() => incidentPolicy(inspection, 'legacy-db')).toThrow(PolicyLoadError); // its own document is broken
  });

  it('refuses a target declared twice, even when the other copy is invalid', async () => {
    const { dir: twice, remove: done } = await tempDir('rotor-incident-twice-');
    try {
      await writeFile(join(twice, 'a.yaml'), validPolicy('demo-db-app'));
      await writeFile(join(twice, 'b.yaml'), validPolicy('demo-db-app').replace('owner: team-payments\n', ''));
      const inspection = await inspectPolicyDirectory(twice, registry.catalog);
      expect(() => incidentPolicy(inspection, 'demo-db-app')).toThrow(/declared more than once/);
    } finally {
      await done();
    }
  });
});

describe('the CLI during an incident, with an unrelated broken file', () => {
  it('rotor rotate --emergency starts the emergency and names the broken file', async () => {
    const out = captureOutput();
    expect(await cli('rotate', 'demo-db-app', '--emergency', '--reason', 'key in CI logs')).toBe(0);
    expect(out.text()).toMatch(/warning: other policy files are refused[\s\S]*legacy\.yaml:\d+: ownr: unknown field "ownr"; did you mean "owner"\?/);
    expect(out.text()).toMatch(/started rotate\/demo-db-app/);
    expect(await running('rotate/demo-db-app')).toBe(true);
  });

  it('rotor leak finds the credential and starts its emergency', async () => {
    const leaked = `leaked-${Date.now()}-value`;
    const store = await RotorStore.connect(postgres.url);
    try {
      const [policy] = await loadPolicies(join(dir, 'demo.yaml'), registry.catalog);
      await store.upsertCredentials([inventoryEntry(policy!)]);
      await store.recordFingerprints('demo-db-app', 'r-1', 'demo_app_a', { password: fingerprintValue(leaked) });
    } finally {
      await store.close();
    }
    const out = captureOutput();
    expect(await cli('leak', leaked, '--reason', 'found in a gist')).toBe(0);
    expect(out.text()).toMatch(/legacy\.yaml/);
    expect(out.text()).toMatch(/demo-db-app: emergency rotation started/);
    expect(out.text()).not.toContain(leaked);
  });

  it('what changes schedules stays all-or-nothing, and so does a non-emergency rotation', async () => {
    const out = captureOutput();
    expect(await cli('apply')).toBe(2);
    expect(await cli('rotate', 'demo-db-app')).toBe(2);
    expect(out.text()).toMatch(/policies refused, nothing changed/);
  });
});
