/**
 * Named workflows for the credential families, all on the same protocol, so the Temporal UI lists
 * runs by family. A new credential type names one of them in its registration (`workflow`), or the
 * generic `rotateCredential`: adding a type never needs a line here. The worker checks at start-up
 * that every registered type names a workflow exported here (daemon/worker.ts).
 */
import { runRotationProtocol } from './protocol.js';
import type { RotationInput, RotationResult } from './types.js';

/** Any credential type without a family of its own. */
export async function rotateCredential(input: RotationInput): Promise<RotationResult> {
  return runRotationProtocol(input);
}
export async function rotateDatabasePassword(input: RotationInput): Promise<RotationResult> {
  return runRotationProtocol(input);
}
export async function rotateAwsAccessKey(input: RotationInput): Promise<RotationResult> {
  return runRotationProtocol(input);
}
export async function rotateAzureClientSecret(input: RotationInput): Promise<RotationResult> {
  return runRotationProtocol(input);
}
export async function rotateGcpServiceAccountKey(input: RotationInput): Promise<RotationResult> {
  return runRotationProtocol(input);
}
export async function rotateDirectoryPassword(input: RotationInput): Promise<RotationResult> {
  return runRotationProtocol(input);
}
export async function rotateCiToken(input: RotationInput): Promise<RotationResult> {
  return runRotationProtocol(input);
}

export { abortSignal, approveSignal, continueSignal, emergencySignal, rejectSignal, retrySignal, revokeNowSignal, rollbackSignal, statusQuery } from './messages.js';
export { scheduledRotation } from './scheduled.js';
export { groupLock } from './group-lock.js';
export { discoverCredentials } from './discovery.js';
export { remindManualCredentials } from './reminders.js';
export { decommissionCredential } from './decommission.js';
