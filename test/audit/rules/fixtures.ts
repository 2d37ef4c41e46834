/** Facts and a context for the posture rule tests: a healthy credential each rule then breaks. */
import { DAY_MS, DEFAULT_THRESHOLDS, type AuditContext, type CredentialFacts } from '../../../audit/types.js';

export const NOW = new Date('2026-03-01T12:00:00Z');
export const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY_MS);
export const daysAhead = (n: number) => new Date(NOW.getTime() + n * DAY_MS);

export function managed(overrides: Partial<CredentialFacts> = {}): CredentialFacts {
  return {
    subject: 'payments-db',
    kind: 'managed',
    type: 'postgres-password',
    owner: 'team-payments',
    purpose: 'Payments API login',
    status: 'managed',
    lastRotatedAt: daysAgo(3),
    nextDueAt: daysAhead(27),
    cadenceMs: 30 * DAY_MS,
    firstSeenAt: daysAgo(60),
    recentFailures: [],
    ...overrides,
  };
}

export function discovered(overrides: Partial<CredentialFacts> = {}): CredentialFacts {
  return {
    subject: 'aws-iam-access-key:ci-bot/AKIAEXAMPLEEXAMPLE01',
    kind: 'discovered',
    type: 'aws-iam-access-key',
    principal: 'ci-bot',
    materialId: 'AKIAEXAMPLEEXAMPLE01',
    managedBy: 'ci-bot-key',
    owner: 'team-ci',
    purpose: 'CI deploys',
    status: 'active',
    createdAt: daysAgo(10),
    lastUsedAt: daysAgo(1),
    broadPrivileges: [],
    ...overrides,
  };
}

export function context(overrides: Partial<AuditContext> = {}): AuditContext {
  return { now: NOW, policies: [], allowedOwners: [], thresholds: DEFAULT_THRESHOLDS, ...overrides };
}
