import { describe, expect, it } from 'vitest';
import { unmanagedCredential } from '../../../audit/rules/unmanaged.js';
import { context, discovered, managed } from './fixtures.js';

describe('rule unmanaged', () => {
  it('flags a discovered credential no policy manages: high when active, low when inactive', () => {
    expect(unmanagedCredential(discovered({ managedBy: null }), context())).toMatchObject({ rule: 'unmanaged', severity: 'high' });
    expect(unmanagedCredential(discovered({ managedBy: null, status: 'inactive' }), context())).toMatchObject({ severity: 'low' });
  });

  it('is silent for managed material, gone credentials and policy subjects', () => {
    expect(unmanagedCredential(discovered(), context())).toBeNull();
    expect(unmanagedCredential(discovered({ managedBy: null, status: 'gone' }), context())).toBeNull();
    expect(unmanagedCredential(managed(), context())).toBeNull();
  });
});
