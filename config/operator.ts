/**
 * What the operator decides and policy files cannot: which secrets policies may reference
 * (ROTOR_SECRET_REFS_ALLOW, config/secret-ref.ts) and the shortest schedule interval
 * (ROTOR_MIN_INTERVAL). Read from the environment of the command or daemon that loads the policies,
 * so `rotor validate` in CI must run with the daemon's settings to reach the same verdict.
 */
import { parseDuration } from './duration.js';
import { secretRefAllowlist, OperatorSettingError, type SecretRefAllowlist } from './secret-ref.js';

export { OperatorSettingError };

export const MIN_INTERVAL_SETTING = 'ROTOR_MIN_INTERVAL';
/** Like the clouds' own minimums for managed rotation: a credential rotated more often than hourly is a loop, not a policy. */
export const DEFAULT_MIN_INTERVAL = '1h';

export interface OperatorSettings {
  /** Shortest interval between scheduled runs (interval or cron), in ms, and as written. */
  minInterval: { ms: number; text: string; source: string };
  secretRefs: SecretRefAllowlist;
}

export function operatorSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): OperatorSettings {
  const given = env[MIN_INTERVAL_SETTING]?.trim();
  const text = given || DEFAULT_MIN_INTERVAL;
  const ms = parseDuration(text);
  if (ms === undefined || ms < 1000) throw new OperatorSettingError(`${MIN_INTERVAL_SETTING}: "${text}" must be a duration of at least 1s, like 1h or 1m`);
  return {
    minInterval: { ms, text, source: given ? MIN_INTERVAL_SETTING : `${MIN_INTERVAL_SETTING}, default ${DEFAULT_MIN_INTERVAL}` },
    secretRefs: secretRefAllowlist(env),
  };
}
