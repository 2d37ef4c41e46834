/**
 * Discovery as a workflow, started by the `rotor/discovery` schedule or `rotor discover`: scan every
 * target in parallel, then match what was found to the policies. One target failing (a system
 * down, a permission missing) does not stop the others; it is named in the result.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { DiscoveryActivities, MatchOutcome } from '../activities/discovery.js';
import { ACTIVITY_HEARTBEAT_TIMEOUT } from './timeouts.js';

const activities = proxyActivities<DiscoveryActivities>({
  startToCloseTimeout: '5m',
  heartbeatTimeout: ACTIVITY_HEARTBEAT_TIMEOUT,
  retry: { maximumAttempts: 3, initialInterval: '10s' },
});

export interface DiscoveryResult extends MatchOutcome {
  targets: number;
  found: number;
  fresh: string[];
  failed: Array<{ target: string; error: string }>;
}

export async function discoverCredentials(): Promise<DiscoveryResult> {
  const targets = await activities.listScanTargets();
  const failed: DiscoveryResult['failed'] = [];
  const outcomes = await Promise.all(
    targets.map((t) =>
      activities.scanTarget({ key: t.key }).then(
        (outcome) => {
          // Listed, but the grants were not readable: say so rather than pass for "nothing broad".
          if (outcome.privilegesUnread) failed.push({ target: `${t.type} (${t.from})`, error: `credentials listed; privileges not read: ${outcome.privilegesUnread}` });
          return outcome;
        },
        (error: unknown) => {
          const cause = (error as { cause?: { message?: string } }).cause?.message ?? String(error);
          failed.push({ target: `${t.type} (${t.from})`, error: cause });
          return null;
        },
      ),
    ),
  );
  const scanned = outcomes.filter((o) => o !== null);
  const fresh = scanned.flatMap((o) => o.fresh);
  const match = await activities.matchDiscovered({ scanned: scanned.length, failed: failed.map((f) => f.target), fresh });
  return { targets: targets.length, found: scanned.reduce((n, o) => n + o.found, 0), fresh, failed, ...match };
}
