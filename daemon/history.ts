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
    });
    if (rows.length >= limit) break;
  }
  // Runs the store knows but Temporal no longer lists (past its retention).
  for (const r of runs.values()) {
    rows.push({ started: r.startedAt, trigger: triggerText(r.trigger, upgraded.has(r.rotationId)), status: 'ARCHIVED', outcome: r.outcome, step: r.step, error: r.error, workflowId: r.workflowId, runId: r.runId });
  }
  return rows.sort((a, b) => b.started.getTime() - a.started.getTime()).slice(0, limit);
}
