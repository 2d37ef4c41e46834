import { describe, expect, it } from 'vitest';
import { overdueRotation } from '../../../audit/rules/overdue-rotation.js';
import { context, daysAgo, managed } from './fixtures.js';

describe('rule overdue-rotation', () => {
  it('flags a managed credential past its next due date', () => {
    const f = overdueRotation(managed({ lastRotatedAt: daysAgo(40), nextDueAt: daysAgo(10) }), context());
    expect(f).toMatchObject({ rule: 'overdue-rotation', severity: 'high', subject: 'payments-db' });
    expect(f!.message).toContain('10 days ago');
    expect(f!.message).toContain('rotor rotate payments-db');
  });

  it('is silent while the credential is within its cadence, or retired', () => {
    expect(overdueRotation(managed(), context())).toBeNull();
    expect(overdueRotation(managed({ status: 'retired', nextDueAt: daysAgo(10) }), context())).toBeNull();
  });
});
