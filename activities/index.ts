/**
 * Rotation activities: thin, idempotent steps that call providers and record what happened, one
 * module per concern (run records, material, dependents, pre-flight, notifications), each going
 * through the step runner (step.ts). Built by a factory that receives its clients, so tests hand in
 * local ones and the worker real ones. Inputs and outputs are references only.
 */
import { heartbeating } from './heartbeat.js';
import { dependentActivities } from './dependents.js';
import { materialActivities } from './material.js';
import { notifyActivities } from './notify.js';
import { preflightActivities } from './preflight.js';
import { runRecordActivities } from './run-records.js';
import { stepRunner, type ActivityDeps } from './step.js';

export type { ActivityDeps, RotationMetrics } from './step.js';
export { scrub } from './step.js';

export type RotationActivities = ReturnType<typeof createActivities>;

export function createActivities(deps: ActivityDeps) {
  const step = stepRunner(deps);
  return heartbeating({
    ...runRecordActivities(deps),
    ...preflightActivities(deps.providers, step),
    ...materialActivities(deps.store, step),
    ...dependentActivities(step),
    ...notifyActivities(deps),
  });
}
