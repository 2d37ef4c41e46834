import { describe, expect, it } from 'vitest';
import { neverRotated } from '../../../audit/rules/never-rotated.js';
import { context, managed } from './fixtures.js';

describe('rule never-rotated', () => {
  it('flags a managed credential Rotor has never rotated', () => {
    const f = neverRotated(managed({ lastRotatedAt: null, nextDueAt: null }), context());
    expect(f).toMatchObject({ rule: 'never-rotated', severity: 'medium' });
    expect(f!.message).toContain('60 days');
  });

  it('is silent once it has been rotated', () => {
    expect(neverRotated(managed(), context())).toBeNull();
  });
});
