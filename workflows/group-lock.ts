/**
 * A lock per credential group: held by a child workflow with the fixed id `group-lock/<group>`, so
 * Temporal's own id uniqueness decides who holds it. The holder ends when the rotation signals
 * `release`, or when the rotation ends in any other way (parent close policy TERMINATE).
 */
import { condition, setHandler } from '@temporalio/workflow';
import { releaseSignal } from './messages.js';

export async function groupLock(): Promise<void> {
  let released = false;
  setHandler(releaseSignal, () => void (released = true));
  await condition(() => released);
}
