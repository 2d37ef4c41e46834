/**
 * Discovery activities: list what exists in every system Rotor can reach, record it, and match it
 * to the policies. Scan targets are each policy's credential spec (its provider's list() finds the
 * siblings too, e.g. the other key of the IAM user) plus the `kind: discovery` documents.
 * Built by a factory like createActivities, so tests hand in local clients.
 */
import { heartbeating } from './heartbeat.js';
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import type { Policy } from '../config/policy.js';
import type { ScanTarget } from '../config/discovery.js';
import type { Logger } from '../lib/logger.js';
import { ProviderRefusal, type DiscoveredCredential, type ProviderContext } from '../providers/contracts.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotorStore } from '../store/index.js';
import { matchManaged, recordScan } from '../store/discovery.js';

export interface DiscoveryDeps {
  store: RotorStore;
  /** The policies in force. */
  policies(): Policy[];
  /** Extra targets from `kind: discovery` documents (none when there are no such documents). */
  discoveryTargets(): Promise<ScanTarget[]>;
  providers: ProviderRegistry;
  logger: Logger;
  resolveSecret(ref: string): Promise<string>;
}

/** A scan target as it crosses into workflow history: a key and a label, never a spec. */
export interface ScanTargetRef {
  key: string;
  type: string;
  /** Where the target comes from: `policy <id>` or `discovery document`. */
  from: string;
}

export interface ScanOutcome {
  key: string;
  principals: string[];
  found: number;
  /** Credential ids seen for the first time by this scan. */
  fresh: string[];
  /** Why the principal's grants could not be read (the credentials were still recorded). */
  privilegesUnread?: string;
}

export interface MatchOutcome {
  managed: number;
  unmanaged: number;
}

/** Stable JSON (sorted keys), so the same spec from two policies is one target. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export type DiscoveryActivities = ReturnType<typeof createDiscoveryActivities>;

export function createDiscoveryActivities(deps: DiscoveryDeps) {
  /** Every distinct target: policies first, then discovery documents. Specs hold references only. */
  async function targets(): Promise<Array<ScanTargetRef & { spec: Record<string, unknown> }>> {
    const all = [
      ...deps.policies().map((p) => ({ type: p.credential.type, spec: p.credential.spec, from: `policy ${p.id}` })),
      ...(await deps.discoveryTargets()).map((t) => ({ ...t, from: 'discovery document' })),
    ];
    const byKey = new Map<string, ScanTargetRef & { spec: Record<string, unknown> }>();
    for (const t of all) {
      const key = createHash('sha256').update(`${t.type}\n${stableJson(t.spec)}`).digest('hex').slice(0, 16);
      if (!byKey.has(key)) byKey.set(key, { key, ...t });
    }
    return [...byKey.values()];
  }

  return heartbeating({
    async listScanTargets(): Promise<ScanTargetRef[]> {
      return (await targets()).map(({ key, type, from }) => ({ key, type, from }));
    },

    /** Lists one target's credentials and its principal's broad grants, and records them. */
    async scanTarget(ref: { key: string }): Promise<ScanOutcome> {
      const target = (await targets()).find((t) => t.key === ref.key);
      if (!target) throw ApplicationFailure.nonRetryable(`scan target ${ref.key} is gone (policies changed)`, 'UnknownScanTarget');
      const provider = deps.providers.credential(target.type);
      if (!provider) throw ApplicationFailure.nonRetryable(`credential type ${target.type} is not registered`, 'UnknownProvider');
      const source = provider.source;
      const ctx: ProviderContext = {
        rotationId: 'discovery',
        credentialId: target.from,
        logger: deps.logger.child({ discovery: target.key, type: target.type }),
        resolveSecret: deps.resolveSecret,
      };
      try {
        const found = await source.list(ctx, target.spec);
        // A refused look at the grants must not lose the listing, nor pass for "nothing broad".
        let privilegesUnread: string | undefined;
        const privileges = source.privileges
          ? await source.privileges(ctx, target.spec).then(
              (facts) => facts.broad,
              (error: unknown) => {
                if (!(error instanceof ProviderRefusal)) throw error;
                privilegesUnread = error.message;
                return null;
              },
            )
          : [];
        const byPrincipal = new Map<string, DiscoveredCredential[]>();
        for (const c of found) byPrincipal.set(c.principal, [...(byPrincipal.get(c.principal) ?? []), c]);
        const fresh: string[] = [];
        for (const [principal, credentials] of byPrincipal) {
          fresh.push(...(await recordScan(deps.store, { sourceType: target.type, principal, credentials, broadPrivileges: privileges })));
        }
        ctx.logger.info({ found: found.length, fresh: fresh.length }, 'discovery target scanned');
        return { key: target.key, principals: [...byPrincipal.keys()], found: found.length, fresh, ...(privilegesUnread ? { privilegesUnread } : {}) };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        ctx.logger.warn({ error: message }, 'discovery target scan failed');
        // A refusal is expected (the message names what is missing): benign, logged without a stack.
        if (error instanceof ProviderRefusal) {
          throw ApplicationFailure.create({ message, type: 'ProviderRefusal', nonRetryable: true, category: ApplicationFailureCategory.BENIGN });
        }
        throw ApplicationFailure.retryable(message, error instanceof Error ? error.name : 'Error');
      }
    },

    /** Matches discovered credentials to policies and records the run in the audit log. */
    async matchDiscovered(summary: { scanned: number; failed: string[]; fresh: string[] }): Promise<MatchOutcome> {
      const outcome = await matchManaged(deps.store);
      await deps.store.appendAudit({
        actor: 'rotor',
        event: 'discovery.completed',
        detail: { targets: summary.scanned, failedTargets: summary.failed, newCredentials: summary.fresh, ...outcome },
      });
      return outcome;
    },
  });
}
