/**
 * Posture audit: every credential Rotor knows (managed by a policy, or discovered in a system) is
 * described by facts, and each rule is a small pure function of those facts and a context that
 * returns a finding or null. Facts hold ids, dates and names, never a secret value.
 */
import type { Policy } from '../config/policy.js';
import { registry } from '../providers/registry.js';

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Lower is worse: critical = 0. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

export interface CredentialFacts {
  /** A policy's credential id, or `<type>:<principal>/<credential id>` for a discovered credential. */
  subject: string;
  /** managed: a policy declares it (inventory row); discovered: a system listed it. */
  kind: 'managed' | 'discovered';
  type: string;
  /** IAM user, database role... (discovered credentials). */
  principal?: string;
  /** The system's id of the material: access key id, login role (discovered credentials). */
  materialId?: string;
  /** The policy whose material a discovered credential is; null when unmanaged. */
  managedBy?: string | null;
  owner: string | null;
  purpose: string | null;
  environment?: string | null;
  /** manual: declared as a `kind: manual-credential` (no API can rotate it; Rotor reminds its owner). */
  status: 'active' | 'inactive' | 'expired' | 'gone' | 'managed' | 'retired' | 'unmanaged' | 'manual';
  /** When the system says the material was made (discovered). */
  createdAt?: Date | null;
  lastUsedAt?: Date | null;
  /** False when the system does not report use (or could not be asked): a missing lastUsedAt is then unknown. */
  usageTracked?: boolean;
  /** The system's own expiry of the material (discovered). */
  expiresAt?: Date | null;
  /** The policy's `expires` date, YYYY-MM-DD (managed). */
  policyExpires?: string | null;
  lastRotatedAt?: Date | null;
  nextDueAt?: Date | null;
  cadenceMs?: number | null;
  /** When Rotor first recorded it. */
  firstSeenAt?: Date | null;
  /** Failed or rolled-back rotations within the context's failure window (managed). */
  recentFailures?: Array<{ rotationId: string; outcome: string; step: string | null; startedAt: Date }>;
  /** Over-privilege evidence of the principal, where the provider tells. */
  broadPrivileges?: string[];
  /** Reported leaked (e.g. GitHub secret scanning) and matching no managed credential. */
  leaked?: { at: Date; source: string; location?: string };
}

export interface Thresholds {
  /** Unused this long but still active: stale (default 90). */
  unusedDays: number;
  /** Expiry within this many days: expiring soon (default 30). */
  expiringSoonDays: number;
  /** Rotation failures within this many days are reported (default 7). */
  failureWindowDays: number;
  /** Longest a credential may live, per type (each type's registered `maxAgeDays`); `default` for the rest. */
  maxAgeDays: Record<string, number> & { default: number };
}

export const DEFAULT_THRESHOLDS: Thresholds = {
  unusedDays: 90,
  expiringSoonDays: 30,
  failureWindowDays: 7,
  // Each type's registration says its own (cloud keys 90 days, database secrets 30); 90 for a type Rotor has no provider for.
  maxAgeDays: { default: 90, ...registry.maxAgeDays() },
};

export interface AuditContext {
  now: Date;
  policies: Policy[];
  /** Owners that may hold credentials; empty: not checked. */
  allowedOwners: string[];
  thresholds: Thresholds;
}

export interface Finding {
  /** The rule's id, e.g. `overdue-rotation`. */
  rule: string;
  severity: Severity;
  subject: string;
  type: string;
  owner: string | null;
  title: string;
  /** What is wrong and what to do, in a sentence or two. */
  message: string;
}

export type Rule = (facts: CredentialFacts, context: AuditContext) => Finding | null;

export const DAY_MS = 86_400_000;

/** Whole days from `from` to `to`, rounded down. */
export function daysBetween(from: Date, to: Date): number {
  return Math.floor((to.getTime() - from.getTime()) / DAY_MS);
}

/** A finding about these facts; the rule adds what it found. */
export function finding(facts: CredentialFacts, rule: string, severity: Severity, title: string, message: string): Finding {
  return { rule, severity, subject: facts.subject, type: facts.type, owner: facts.owner, title, message };
}

/** Still able to authenticate: an active discovered credential or a managed one in force. */
export function isLive(facts: CredentialFacts): boolean {
  return facts.status === 'active' || facts.status === 'managed';
}
