/**
 * The throughput floor's workflow: as many activities as a real rotation runs, one after another,
 * and nothing else (no protocol, no decisions, no timers): what the SDK and the server cost for that
 * many steps.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { FloorActivities } from './activities.js';

const { floorStep } = proxyActivities<FloorActivities>({ startToCloseTimeout: '1 minute', retry: { maximumAttempts: 3 } });

export async function floorRotation(id: string, steps: string[]): Promise<string> {
  for (const step of steps) await floorStep(id, step);
  return 'succeeded';
}
