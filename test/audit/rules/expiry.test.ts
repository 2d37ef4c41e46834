import { describe, expect, it } from 'vitest';
import { expiry } from '../../../audit/rules/expiry.js';
import { context, daysAgo, daysAhead, discovered, managed } from './fixtures.js';

describe('rule expiry', () => {
  it('flags a policy whose expires date has passed, pointing at rotor decommission --expired', () => {
    const f = expiry(managed({ policyExpires: '2026-02-01' }), context());
    expect(f).toMatchObject({ rule: 'expiry', severity: 'high', title: 'Past its expiry date' });
    expect(f!.message).toContain('rotor decommission --expired');
  });

  it('flags a policy or a provider expiry within the next 30 days', () => {
    expect(expiry(managed({ policyExpires: '2026-03-15' }), context())).toMatchObject({ severity: 'medium', title: 'Expires soon' });
    expect(expiry(discovered({ expiresAt: daysAhead(5) }), context())).toMatchObject({ severity: 'medium' });
    expect(expiry(discovered({ status: 'expired', expiresAt: daysAgo(5) }), context())).toMatchObject({ severity: 'low' });
  });

  it('is silent far from expiry, without one, or once retired', () => {
    expect(expiry(managed({ policyExpires: '2027-01-01' }), context())).toBeNull();
    expect(expiry(managed(), context())).toBeNull();
    expect(expiry(managed({ status: 'retired', policyExpires: '2026-02-01' }), context())).toBeNull();
  });
});
