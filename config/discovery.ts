/**
 * `kind: discovery` documents in the policy directory: extra principals to scan for credentials
 * beyond what the policies name, and how often the `rotor/discovery` schedule runs.
 *
 * ```yaml
 * kind: discovery
 * every: 24h                       # the rotor/discovery schedule (default 24h)
 * targets:
 *   - type: aws-iam-access-key     # a credential type; its provider lists the principal's credentials
 *     connection:                  # fields shared by every principal below (the provider's spec fields)
 *       region: us-east-1
 *       credentials: { accessKeyId: env:AUDIT_KEY_ID, secretAccessKey: env:AUDIT_SECRET }
 *     principals:                  # one entry per principal: the remaining spec fields
 *       - userName: legacy-batch
 *       - userName: ci-deployer
 * ```
 *
 * Each principal merged over `connection` must pass the provider's own spec schema, so a target is
 * written like a policy's `credential:` block. The policy loader validates these documents with the
 * policies (all or nothing) and otherwise skips them.
 */
import { z } from 'zod';
import { quotedTypeName } from './secret-ref.js';
import { PositiveDurationSchema } from './duration.js';
import type { ProviderCatalog } from '../providers/catalog.js';

export const DISCOVERY_KIND = 'discovery';

const DiscoveryDocumentSchema = z.strictObject({
  kind: z.literal(DISCOVERY_KIND),
  every: PositiveDurationSchema.default('24h'),
  targets: z
    .array(
      z.strictObject({
        type: z.string().min(1, 'is required'),
        connection: z.record(z.string(), z.unknown()).default({}),
        principals: z.array(z.record(z.string(), z.unknown())).min(1, 'list at least one principal to scan'),
      }),
    )
    .default([]),
});

/** One principal to scan: a credential type and a spec its provider accepts. */
export interface ScanTarget {
  type: string;
  spec: Record<string, unknown>;
}

export interface DiscoveryConfig {
  every: string;
  targets: ScanTarget[];
}

export function isDiscoveryDocument(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === DISCOVERY_KIND;
}

/** Validates one discovery document; reports problems by path and returns undefined when any. */
export function parseDiscoveryDocument(
  value: unknown,
  catalog: ProviderCatalog,
  report: (path: PropertyKey[], message: string) => void,
): DiscoveryConfig | undefined {
  const parsed = DiscoveryDocumentSchema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) report(issue.path, issue.message);
    return undefined;
  }
  let ok = true;
  const targets: ScanTarget[] = [];
  parsed.data.targets.forEach((t, i) => {
    const provider = catalog.credential(t.type);
    if (!provider) {
      ok = false;
      report(['targets', i, 'type'], `unknown credential type ${quotedTypeName(t.type)}; known: ${catalog.credentialTypes().join(', ')}`);
      return;
    }
    t.principals.forEach((p, j) => {
      const spec = provider.spec.safeParse({ ...t.connection, ...p });
      if (spec.success) targets.push({ type: t.type, spec: spec.data as Record<string, unknown> });
      else {
        ok = false;
        for (const issue of spec.error.issues) report(['targets', i, 'principals', j, ...issue.path], issue.message);
      }
    });
  });
  return ok ? { every: parsed.data.every, targets } : undefined;
}
