/**
 * Helpers for end-to-end tests of PostgreSQL logins rotated into Vault: a policy, what a consumer
 * reads from the dependent, logging in, and waiting (by query, never by sleeping) for a step.
 */
import vault from 'node-vault';
import type { WorkflowHandle } from '@temporalio/client';
import { canLogin } from './postgres.js';
import type { RotorEnv } from './env.js';
import { rotationWorkflowId, startRotation } from '../../daemon/rotations.js';
import { registry } from '../../providers/registry.js';
import { statusQuery } from '../../workflows/messages.js';
import { isOutcome, type RotationInput, type RotationResult, type RotationStatus, type RotationStep } from '../../workflows/types.js';
import type { Strategy } from '../../providers/contracts.js';

export interface DbPolicyOptions {
  strategy?: Strategy;
  role: string;
  healthCheckUrl?: string;
  /** Extra top-level YAML (e.g. `rollback: manual`). */
  extra?: string;
}

export function dbPolicyYaml(env: RotorEnv, id: string, o: DbPolicyOptions): string {
  const { postgres, vault: v } = env;
  return `
id: ${id}
owner: team-payments
purpose: End-to-end test login
environment: test
credential:
  type: postgres-password
  host: ${postgres.host}
  port: ${postgres.port}
  database: ${postgres.database}
  admin:
    user: ${postgres.adminUser}
    password: env:PG_ADMIN_PASSWORD
  role: ${o.role}
strategy: ${o.strategy ?? 'dual'}
store:
  type: vault-kv
  address: ${v.address}
  token: env:VAULT_TOKEN
  path: rotor/${id}
dependents:
  - name: app
    type: vault-kv
    address: ${v.address}
    token: env:VAULT_TOKEN
    path: apps/${id}/db
${o.healthCheckUrl ? `healthChecks:\n  - name: app\n    http:\n      url: ${o.healthCheckUrl}\n` : ''}
revoke:
  after: 24h
${o.extra ?? ''}
`;
}

export interface DbLogin {
  username: string;
  password: string;
}

/** What an application reading the dependent sees now. */
export async function servedLogin(env: RotorEnv, id: string): Promise<DbLogin> {
  const client = vault({ endpoint: env.vault.address, token: env.vault.token, noCustomHTTPVerbs: true });
  const { data } = (await client.read(`secret/data/apps/${id}/db`)) as { data: { data: DbLogin } };
  return data.data;
}

export function login(env: RotorEnv, credentials: DbLogin): Promise<boolean> {
  const { host, port, database } = env.postgres;
  return canLogin({ host, port, database, user: credentials.username, password: credentials.password });
}

export async function startDbRotation(env: RotorEnv, id: string, options: Partial<Pick<RotationInput, 'trigger' | 'reason' | 'revokeFirst'>> = {}): Promise<WorkflowHandle> {
  const policy = env.policies.get(id);
  if (!policy) throw new Error(`no policy ${id} in force`);
  const { handle } = await startRotation(env.client, registry, policy, { taskQueue: env.taskQueue, trigger: options.trigger ?? 'manual', reason: options.reason, revokeFirst: options.revokeFirst });
  return handle;
}

export async function rotateDb(env: RotorEnv, id: string, options: Partial<Pick<RotationInput, 'trigger' | 'reason' | 'revokeFirst'>> = {}): Promise<RotationResult> {
  return (await (await startDbRotation(env, id, options)).result()) as RotationResult;
}

/**
 * Waits until the rotation of `id` reports a step matching `step` (queried, no fixed sleeps).
 * Virtual time stands still meanwhile, unless `skipTime` moves it on, one second at a time, while
 * the step is not reached (e.g. through retry backoffs on the way to it). One second at a time,
 * never by unlocking: a step that waits without a timer of its own (a human decision) would let the
 * time-skipping server jump straight to the run's 10-year timeout before the test can act on it.
 * Never use it to reach a step that sits on a timer, like the grace.
 */
export async function untilStep(env: RotorEnv, id: string, step: RotationStep | RegExp, options: { skipTime?: boolean } = {}): Promise<RotationStatus> {
  const handle = env.client.workflow.getHandle(rotationWorkflowId(id));
  const matches = (s: string) => (typeof step === 'string' ? s === step : step.test(s));
  for (;;) {
    const status = await handle.query(statusQuery).catch(() => undefined);
    if (status && matches(status.step)) return status;
    if (status && isOutcome(status.step)) {
      throw new Error(`rotation ended in ${status.step} before reaching ${String(step)}`);
    }
    if (options.skipTime) await env.temporal.advance(1000);
    else await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * How many times the rotation of `id` scheduled activity `type` (from its history): what a test
 * that moves virtual time asserts, so it proves the iterations production would run.
 */
export async function activityRuns(env: RotorEnv, id: string, type: string): Promise<number> {
  const history = await env.client.workflow.getHandle(rotationWorkflowId(id)).fetchHistory();
  return (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type).length;
}

/** How many durable timers the latest rotation of `id` started (from its history). */
export async function timersStarted(env: RotorEnv, id: string): Promise<number> {
  const history = await env.client.workflow.getHandle(rotationWorkflowId(id)).fetchHistory();
  return (history.events ?? []).filter((e) => e.timerStartedEventAttributes).length;
}

/**
 * When the latest run of the rotation of `id` closed, in server time (ms). Upper bounds on how long
 * a run took are measured to here, not to `env.temporal.now()`: once nothing is left to run, the
 * time-skipping server may jump to the next timer (another run's 10-year run timeout) before a
 * result reaches the test.
 */
export async function closedAt(env: RotorEnv, id: string): Promise<number> {
  const described = await env.client.workflow.getHandle(rotationWorkflowId(id)).describe();
  if (!described.closeTime) throw new Error(`the rotation of ${id} has not closed`);
  return described.closeTime.getTime();
}
