/** Shared by the loader tests: a valid policy, a temporary policy directory, and the refusal of a load. */
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { loadPolicies, PolicyLoadError, type PolicyProblem } from '../../config/load.js';
import { registry } from '../../providers/registry.js';

/** A valid policy; `id` and extra top-level YAML can be swapped in. */
export function validPolicy(id = 'payments-db', extra = ''): string {
  return `id: ${id}
owner: team-payments
purpose: Payments API login to the orders database
environment: production
credential:
  type: postgres-password
  host: 127.0.0.1
  database: orders
  admin:
    user: rotor_admin
    password: env:ORDERS_ADMIN_PASSWORD
  role: payments
store:
  type: vault-kv
  address: http://127.0.0.1:8200
  token: env:VAULT_TOKEN
  path: rotor/${id}
${extra}`;
}

export async function tempDir(prefix = 'rotor-loader-'): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** The problems of a load that must be refused. */
export async function refusal(target: string): Promise<PolicyProblem[]> {
  const error = await loadPolicies(target, registry.catalog).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PolicyLoadError);
  return (error as PolicyLoadError).problems;
}

/** Writes one ConfigMap generation into `..<stamp>` and swaps `..data` to it, as the kubelet does. */
export async function writeConfigMap(root: string, stamp: string, files: Record<string, string>): Promise<void> {
  const generation = join(root, `..${stamp}`);
  await mkdir(generation);
  for (const [name, text] of Object.entries(files)) await writeFile(join(generation, name), text);
  await symlink(`..${stamp}`, join(root, '..data_tmp'));
  await rename(join(root, '..data_tmp'), join(root, '..data'));
  for (const name of Object.keys(files)) await symlink(join('..data', name), join(root, name)).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'EEXIST') throw e; });
}

