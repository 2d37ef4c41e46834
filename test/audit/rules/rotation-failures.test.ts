import { describe, expect, it } from 'vitest';
import { rotationFailures } from '../../../audit/rules/rotation-failures.js';
import { context, daysAgo, managed } from './fixtures.js';

describe('rule rotation-failures', () => {
  it('flags recent failed or rolled-back rotations, naming the last step', () => {
    const f = rotationFailures(
      managed({ recentFailures: [{ rotationId: 'r1', outcome: 'rolled_back', step: 'dependent.checked', startedAt: daysAgo(2) }] }),
      context(),
    );
    expect(f).toMatchObject({ rule: 'rotation-failures', severity: 'high' });
    expect(f!.message).toContain('rolled_back at dependent.checked');
  });

  it('is silent without recent failures', () => {
    expect(rotationFailures(managed(), context())).toBeNull();
  });
});
