import { describe, expect, it } from 'vitest';
import { missingOwnerOrPurpose } from '../../../audit/rules/missing-owner.js';
import { context, discovered, managed } from './fixtures.js';

describe('rule missing-owner-or-purpose', () => {
  it('flags a credential with no owner (high) or no purpose (medium)', () => {
    expect(missingOwnerOrPurpose(managed({ owner: null }), context())).toMatchObject({ severity: 'high', title: 'Missing owner' });
    expect(missingOwnerOrPurpose(managed({ purpose: '  ' }), context())).toMatchObject({ severity: 'medium', title: 'Missing purpose' });
  });

  it('is silent when both are set, and leaves unmanaged credentials to the unmanaged rule', () => {
    expect(missingOwnerOrPurpose(managed(), context())).toBeNull();
    expect(missingOwnerOrPurpose(discovered({ managedBy: null, owner: null, purpose: null }), context())).toBeNull();
  });
});
