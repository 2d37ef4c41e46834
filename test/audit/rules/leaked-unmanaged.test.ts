import { describe, expect, it } from 'vitest';
import { leakedUnmanaged } from '../../../audit/rules/leaked-unmanaged.js';
import { unmanagedCredential } from '../../../audit/rules/unmanaged.js';
import { leakFacts } from '../../../audit/facts.js';
import { context, discovered, managed } from './fixtures.js';

const report = {
  deliveryId: 'd-1',
  source: 'github-secret-scanning',
  secretType: 'github_personal_access_token',
  fingerprint: 'sha256:00',
  location: 'acme/app',
  status: 'unmanaged' as const,
  receivedAt: new Date('2026-11-20T10:00:00Z'),
};

describe('rule leaked-unmanaged', () => {
  it('flags an unmanaged leak report as critical, saying where and what to do, without the fingerprint', () => {
    const found = leakedUnmanaged(leakFacts(report), context());
    expect(found).toMatchObject({ rule: 'leaked-unmanaged', severity: 'critical' });
    expect(found!.message).toMatch(/github_personal_access_token was reported leaked by github-secret-scanning at acme\/app on 2026-11-20/);
    expect(JSON.stringify(found)).not.toContain('sha256:00');
    expect(unmanagedCredential(leakFacts(report), context())).toBeNull(); // one finding, not two
  });

  it('is silent for credentials that were not reported leaked', () => {
    expect(leakedUnmanaged(discovered({ managedBy: null }), context())).toBeNull();
    expect(leakedUnmanaged(managed(), context())).toBeNull();
  });
});
