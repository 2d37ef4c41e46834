/**
 * One named workflow per credential type, all on the same protocol, so the Temporal UI lists runs
 * by type. A new credential family adds one line here and names it in its provider definition.
 */
import { runRotationProtocol } from './protocol.js';
import type { RotationInput, RotationResult } from './types.js';

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

export { abortSignal, approveSignal, continueSignal, emergencySignal, rejectSignal, retrySignal, revokeNowSignal, rollbackSignal, statusQuery } from './protocol.js';
export { scheduledRotation } from './scheduled.js';
export { groupLock } from './group-lock.js';
export { discoverCredentials } from './discovery.js';
export { remindManualCredentials } from './reminders.js';
export { decommissionCredential } from './decommission.js';
