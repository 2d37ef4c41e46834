import { describe, expect, it } from 'vitest';
import { overPrivileged } from '../../../audit/rules/over-privileged.js';
import { broadStatements } from '../../../providers/aws-iam-access-key/posture.js';
import { context, discovered } from './fixtures.js';

describe('rule over-privileged', () => {
  it('flags an active credential whose principal has AdministratorAccess', () => {
    const f = overPrivileged(discovered({ broadPrivileges: ['AdministratorAccess attached'] }), context());
    expect(f).toMatchObject({ rule: 'over-privileged', severity: 'critical' });
    expect(f!.message).toContain('AdministratorAccess attached');
  });

  it('is silent without broad grants, or for an inactive key', () => {
    expect(overPrivileged(discovered(), context())).toBeNull();
    expect(overPrivileged(discovered({ status: 'inactive', broadPrivileges: ['AdministratorAccess attached'] }), context())).toBeNull();
  });

  it('reads "Action": "*" out of IAM policy documents (the AWS provider helper)', () => {
    expect(broadStatements(JSON.stringify({ Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }))).toEqual(['*']);
    expect(broadStatements(JSON.stringify({ Statement: { Effect: 'Allow', Action: ['s3:GetObject', 'iam:*'] } }))).toEqual(['iam:*']);
    expect(broadStatements(JSON.stringify({ Statement: [{ Effect: 'Allow', Action: ['s3:GetObject'] }, { Effect: 'Deny', Action: '*' }] }))).toEqual([]);
  });
});
