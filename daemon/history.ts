import { status as grpcStatus } from '@grpc/grpc-js';
import { isGrpcServiceError, type Client, type Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { RotorStore } from '../store/index.js';
import { ROTOR_CREDENTIAL_ID, ROTOR_SEARCH_ATTRIBUTES } from '../workflows/search-attributes.js';

/**
 * Registers Rotor's search attributes (a real Temporal server needs them declared before use).
 * Ones that exist already, or a server without the operator API, are fine.
 */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const searchAttributes = Object.fromEntries(
    ROTOR_SEARCH_ATTRIBUTES.map((k) => [k.name, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
  );
  try {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
  } catch (error) {
    const benign = [grpcStatus.ALREADY_EXISTS, grpcStatus.UNIMPLEMENTED];
    if (!(isGrpcServiceError(error) && benign.includes(error.code))) throw error;
  }
}

export interface HistoryRow {
  started: Date;
  trigger: string | null;
  status: string;
  outcome: string | null;
  step: string | null;
  error: string | null;
  workflowId: string;
  runId: string;
  /** Who asked for the run (the audit log's `rotation.requested`), e.g. `oidc:alice`; null for a schedule. */
  requestedBy: string | null;
  /** The reason given for the run. */
  reason: string | null;
  /** The decisions taken on the run, each with who and why: `approve by oidc:bob (Bob): reviewed`. */
  decisions: string[];
}

interface RunActors {
  requestedBy: string | null;
  reason: string | null;
  decisions: string[];
}

/** Who requested and who decided each run of a credential, from the audit log. */
async function actorsOfRuns(store: RotorStore, credentialId: string): Promise<Map<string, RunActors>> {
  const { rows } = await store.query<{ rotation_id: string | null; event: string; actor: string; actor_info: { name?: string } | null; reason: string | null; detail: Record<string, unknown> }>(
    `SELECT rotation_id, event, actor, actor_info, reason, detail FROM audit_log
     WHERE credential_id = $1 AND (event IN ('rotation.requested', 'rotation.decision') OR actor_info IS NOT NULL) ORDER BY seq`,
    [credentialId],
  );
  // The workflow's own decision rows name the actor by id; the daemon's rows carry the display name.
  const names = new Map(rows.filter((r) => r.actor_info?.name).map((r) => [r.actor, r.actor_info!.name!]));
  const named = (actor: string) => (names.has(actor) && names.get(actor) !== actor.replace(/^[a-z]+:/, '') ? `${actor} (${names.get(actor)})` : actor);
  const runs = new Map<string, RunActors>();
  for (const r of rows) {
    if (r.event !== 'rotation.requested' && r.event !== 'rotation.decision') continue;
    if (!r.rotation_id) continue;
    const run = runs.get(r.rotation_id) ?? { requestedBy: null, reason: null, decisions: [] };
    runs.set(r.rotation_id, run);
    if (r.event === 'rotation.requested') {
      run.requestedBy = r.actor;
      run.reason = r.reason;
    } else {
      const reason = typeof r.detail.reason === 'string' ? `: ${r.detail.reason}` : '';
      run.decisions.push(`${String(r.detail.decision)} by ${named(r.actor)}${reason}`);
    }
  }
  return runs;
}

/**
 * Runs of a credential that an emergency upgraded while they ran (the audit log's
 * `rotation.upgraded`), so their trigger reads `scheduled → emergency`.
 */
export async function upgradedRuns(store: RotorStore, credentialId: string): Promise<Set<string>> {
  return new Set(await store.upgradedRotationIds(credentialId));
}

/** A run's trigger as the operator should read it: with the upgrade, when there was one. */
export function triggerText(trigger: string | null, upgraded: boolean): string | null {
  return trigger && upgraded ? `${trigger} → emergency` : trigger;
}

/** Past rotations of a credential: Temporal's run history joined with the store's outcome and step. */
export async function rotationHistory(client: Client, store: RotorStore, credentialId: string, limit = 50): Promise<HistoryRow[]> {
  const runs = new Map((await store.listRuns(credentialId, limit)).map((r) => [r.rotationId, r]));
  const upgraded = await upgradedRuns(store, credentialId);
  const actors = await actorsOfRuns(store, credentialId);
  const who = (runId: string, fallbackReason: string | null): RunActors => {
    const a = actors.get(runId);
    return { requestedBy: a?.requestedBy ?? null, reason: a?.reason ?? fallbackReason, decisions: a?.decisions ?? [] };
  };
  const rows: HistoryRow[] = [];
  const query = `${ROTOR_CREDENTIAL_ID.name} = '${credentialId.replace(/'/g, '')}'`;
  for await (const w of client.workflow.list({ query })) {
    const run = runs.get(w.runId);
    runs.delete(w.runId);
    rows.push({
      started: w.startTime,
      trigger: triggerText(run?.trigger ?? null, upgraded.has(w.runId)),
      status: w.status.name,
      outcome: run?.outcome ?? null,
      step: run?.step ?? null,
      error: run?.error ?? null,
      workflowId: w.workflowId,
      runId: w.runId,
      ...who(w.runId, run?.reason ?? null),
    });
    if (rows.length >= limit) break;
  }
  // Runs the store knows but Temporal no longer lists (past its retention).
  for (const r of runs.values()) {
    rows.push({
      started: r.startedAt,
      trigger: triggerText(r.trigger, upgraded.has(r.rotationId)),
      status: 'ARCHIVED',
      outcome: r.outcome,
      step: r.step,
      error: r.error,
      workflowId: r.workflowId,
      runId: r.runId,
      ...who(r.rotationId, r.reason),
    });
  }
  return rows.sort((a, b) => b.started.getTime() - a.started.getTime()).slice(0, limit);
}
