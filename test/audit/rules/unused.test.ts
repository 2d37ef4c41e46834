import { describe, expect, it } from 'vitest';
import { unusedCredential } from '../../../audit/rules/unused.js';
import { DEFAULT_THRESHOLDS } from '../../../audit/types.js';
import { context, daysAgo, discovered } from './fixtures.js';

describe('rule unused', () => {
  it('flags an active key never used in the 120 days since it was created', () => {
    const f = unusedCredential(discovered({ createdAt: daysAgo(120), lastUsedAt: null }), context());
    expect(f).toMatchObject({ rule: 'unused', severity: 'medium' });
    expect(f!.message).toContain('never used in the 120 days');
  });

  it('flags one last used longer ago than a configured threshold', () => {
    const thresholds = { ...DEFAULT_THRESHOLDS, unusedDays: 30 };
    expect(unusedCredential(discovered({ createdAt: daysAgo(200), lastUsedAt: daysAgo(45) }), context({ thresholds }))?.rule).toBe('unused');
  });

  it('is silent for a recently used key, an inactive one, or when the system gives no dates', () => {
    expect(unusedCredential(discovered(), context())).toBeNull();
    expect(unusedCredential(discovered({ status: 'inactive', createdAt: daysAgo(400), lastUsedAt: null }), context())).toBeNull();
    expect(unusedCredential(discovered({ createdAt: null, lastUsedAt: null }), context())).toBeNull();
  });

  it('does not call a key unused when its system does not report use, unless a use is known', () => {
    expect(unusedCredential(discovered({ createdAt: daysAgo(400), lastUsedAt: null, usageTracked: false }), context())).toBeNull();
    expect(unusedCredential(discovered({ createdAt: daysAgo(400), lastUsedAt: daysAgo(200), usageTracked: false }), context())?.rule).toBe('unused');
  });
});
