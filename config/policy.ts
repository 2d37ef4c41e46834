import { z } from 'zod';
import { DurationSchema, PositiveDurationSchema } from './duration.js';
import { WEEKDAYS } from '../lib/windows.js';
import { SecretRefSchema } from './secret-ref.js';
import { STRATEGIES, type Strategy } from '../providers/contracts.js';

// A missing field says so, instead of zod's "expected string, received undefined".
z.config({ customError: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined) });

/**
 * The rotation policy schema: what an ops team declares for one credential. Provider-specific parts
 * (`credential`, `store`, each dependent) carry a `type`; their other fields are checked by that
 * provider's own spec schema in load.ts, so this file never names a provider.
 */

/** When an `expires` date (YYYY-MM-DD, of a policy or a manual credential) has passed: the end of that UTC day. */
export function expiryInstant(expires: string): number {
  return Date.parse(`${expires}T00:00:00Z`) + 86_400_000;
}

/** Ids whose schedule id `rotor/<id>` is taken by Rotor's own jobs (daemon/job-schedules.ts). */
const RESERVED_IDS = ['discovery', 'reminders'];

export const CredentialIdSchema = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$/, {
    message: 'must be 1-63 lowercase letters, digits, ".", "_" or "-", starting and ending with a letter or digit',
  })
  .refine((id) => !RESERVED_IDS.includes(id), { message: `is reserved: rotor/${RESERVED_IDS.join(' and rotor/')} are Rotor's own schedules` });

/** A provider block: `type` plus that provider's spec fields (checked later against its schema). */
const ProviderBlockSchema = z.looseObject({ type: z.string().min(1, 'is required') });

const DependentBlockSchema = z.looseObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, { message: 'must be a short lowercase name' }),
  type: z.string().min(1, 'is required'),
});

/** Five-field cron: minute hour day-of-month month day-of-week. Checked in config/schedule.ts (with croner), like Temporal parses it. */
export const CronSchema = z.string();

const HhMmSchema = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { message: 'must be a UTC time like 02:30' });

export const ScheduleSchema = z
  .strictObject({
    /** Cadence; defaults per credential type (databases and CI tokens 30d, cloud keys 90d). */
    every: PositiveDurationSchema.optional(),
    cron: CronSchema.optional(),
    /** Random delay added to each start so many credentials do not rotate in the same second. */
    jitter: DurationSchema.default('0s'),
    /** Weekly UTC windows in which scheduled rotations may start; any time when empty. */
    windows: z
      .array(
        z.strictObject({
          days: z.array(z.enum(WEEKDAYS)).default([]),
          start: HhMmSchema,
          end: HhMmSchema,
        }),
      )
      .default([]),
    /** A scheduled rotation due outside every window waits for the next one, or is skipped. */
    outsideWindow: z.enum(['delay', 'skip']).default('delay'),
  })
  .refine((s) => !(s.every && s.cron), { message: 'give either every or cron, not both' });

export const HealthCheckSchema = z.strictObject({
  name: z.string().min(1),
  http: z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    method: z.enum(['GET', 'HEAD']).default('GET'),
    expectStatus: z.int().min(100).max(599).default(200),
    timeout: PositiveDurationSchema.default('10s'),
  }),
});

export const PolicySchema = z.strictObject({
  /** Credential id: also the Temporal workflow id and schedule id stem. */
  id: CredentialIdSchema,
  /** Who answers for this identity: a team or a person. The seeds make ownership mandatory. */
  owner: z
    .string({ error: 'is required: every non-human identity needs an accountable owner' })
    .trim()
    .min(1, 'is required: every non-human identity needs an accountable owner'),
  /** Why the identity exists, in a sentence. */
  purpose: z.string({ error: 'is required: say why this identity exists' }).trim().min(3, 'is required: say why this identity exists'),
  environment: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { message: 'must be a short lowercase name like production' }),
  /** When the identity should be decommissioned (YYYY-MM-DD). */
  expires: z.iso.date().optional(),
  enabled: z.boolean().default(true),
  credential: ProviderBlockSchema,
  strategy: z.enum(STRATEGIES).optional(),
  schedule: ScheduleSchema.default({ jitter: '0s', windows: [], outsideWindow: 'delay' }),
  /** The primary store: where material lives between steps, staged pending then promoted. */
  store: ProviderBlockSchema,
  dependents: z.array(DependentBlockSchema).default([]),
  healthChecks: z.array(HealthCheckSchema).default([]),
  verify: z.strictObject({ timeout: PositiveDurationSchema.default('5m') }).default({ timeout: '5m' }),
  revoke: z
    .strictObject({
      /** Grace: how long old and new material overlap before the old is disabled. */
      after: DurationSchema.default('24h'),
      /** Delay between disabling and deleting, where the system can disable. */
      deleteAfter: DurationSchema.default('0s'),
      /** Before revoking, wait until the old material is no longer used (where the system tells). */
      requireDrained: z.boolean().default(true),
      /** How often to look again while the old material is still used. */
      drainCheckEvery: PositiveDurationSchema.default('5m'),
      /** After this long still in use: stop and wait for a human (revokeNow or abort); never revoke silently. */
      maxWait: PositiveDurationSchema.default('7d'),
    })
    .default({ after: '24h', deleteAfter: '0s', requireDrained: true, drainCheckEvery: '5m', maxWait: '7d' }),
  rollback: z.enum(['auto', 'manual']).default('auto'),
  /** Rotations wait for an `approve` signal (or `reject`) before changing anything; emergencies do not. */
  approval: z
    .strictObject({ required: z.boolean().default(false), timeout: PositiveDurationSchema.default('24h') })
    .default({ required: false, timeout: '24h' }),
  /** Slack-compatible webhook for failures, rollbacks, emergencies and approval waits. */
  notify: z.strictObject({ webhook: SecretRefSchema }).optional(),
  emergency: z
    .strictObject({
      /** Grace for emergency rotations; 0s revokes as soon as dependents serve the new material. */
      grace: DurationSchema.default('0s'),
      /** Confirmed compromise: revoke the old material before propagating (dependents fail meanwhile). */
      revokeFirst: z.boolean().default(false),
      /** Emergencies revoke without waiting for the old material to drain, unless this is set. */
      requireDrained: z.boolean().default(false),
    })
    .default({ grace: '0s', revokeFirst: false, requireDrained: false }),
  /**
   * Credentials of one group never rotate at the same time (a lock), and the reconciler spreads
   * their schedules across the cadence. Credentials that share a dependent should share a group.
   */
  group: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, { message: 'must be a short lowercase name' }).optional(),
  /** `rotor decommission`: also delete the material from every dependent that can (default: leave them). */
  decommission: z.strictObject({ removeFromDependents: z.boolean().default(false) }).optional(),
});

export type PolicyInput = z.input<typeof PolicySchema>;
type ParsedPolicy = z.output<typeof PolicySchema>;

export interface ProviderRef {
  type: string;
  /** The provider's spec, validated by its schema. Holds secret references, never secret values. */
  spec: Record<string, unknown>;
}

export interface DependentRef extends ProviderRef {
  name: string;
}

/** A validated policy, with provider specs parsed and defaults applied. */
export interface Policy extends Omit<ParsedPolicy, 'credential' | 'store' | 'dependents' | 'strategy' | 'schedule'> {
  credential: ProviderRef;
  strategy: Strategy;
  schedule: ParsedPolicy['schedule'];
  store: ProviderRef;
  dependents: DependentRef[];
  /** Where the policy came from, for error messages and `rotor plan`. */
  source: { file: string; index: number };
}
