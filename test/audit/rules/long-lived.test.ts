import { describe, expect, it } from 'vitest';
import { longLived } from '../../../audit/rules/long-lived.js';
import { DEFAULT_THRESHOLDS } from '../../../audit/types.js';
import { context, daysAgo, discovered, managed } from './fixtures.js';

describe('rule long-lived', () => {
  it('flags a cloud key older than 90 days and a database password older than 30', () => {
    expect(longLived(discovered({ createdAt: daysAgo(120) }), context())).toMatchObject({ rule: 'long-lived', title: 'Older than 90 days' });
    expect(longLived(managed({ lastRotatedAt: daysAgo(45) }), context())).toMatchObject({ title: 'Older than 30 days' });
  });

  it('uses a configured maximum per type', () => {
    const thresholds = { ...DEFAULT_THRESHOLDS, maxAgeDays: { ...DEFAULT_THRESHOLDS.maxAgeDays, 'aws-iam-access-key': 7 } };
    expect(longLived(discovered({ createdAt: daysAgo(10) }), context({ thresholds }))).not.toBeNull();
  });

  it('is silent for young material and for material no longer live', () => {
    expect(longLived(discovered(), context())).toBeNull();
    expect(longLived(managed(), context())).toBeNull();
    expect(longLived(discovered({ status: 'inactive', createdAt: daysAgo(400) }), context())).toBeNull();
  });
});
