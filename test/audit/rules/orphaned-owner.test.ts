import { describe, expect, it } from 'vitest';
import { orphanedOwner } from '../../../audit/rules/orphaned-owner.js';
import { context, managed } from './fixtures.js';

describe('rule orphaned-owner', () => {
  it('flags an owner missing from the allowed owners list', () => {
    const f = orphanedOwner(managed({ owner: 'team-disbanded' }), context({ allowedOwners: ['team-payments', 'team-ci'] }));
    expect(f).toMatchObject({ rule: 'orphaned-owner', severity: 'high', owner: 'team-disbanded' });
  });

  it('is silent for an allowed owner, or when no list is configured', () => {
    expect(orphanedOwner(managed(), context({ allowedOwners: ['team-payments'] }))).toBeNull();
    expect(orphanedOwner(managed({ owner: 'team-disbanded' }), context())).toBeNull();
  });
});
