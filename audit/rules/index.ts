/** Every posture rule, in report order. A new rule is one file here and one line below. */
import type { Rule } from '../types.js';
import { expiry } from './expiry.js';
import { leakedUnmanaged } from './leaked-unmanaged.js';
import { longLived } from './long-lived.js';
import { missingOwnerOrPurpose } from './missing-owner.js';
import { neverRotated } from './never-rotated.js';
import { orphanedOwner } from './orphaned-owner.js';
import { overPrivileged } from './over-privileged.js';
import { overdueRotation } from './overdue-rotation.js';
import { rotationFailures } from './rotation-failures.js';
import { unmanagedCredential } from './unmanaged.js';
import { unusedCredential } from './unused.js';

export const RULES: Rule[] = [
  leakedUnmanaged,
  overPrivileged,
  unmanagedCredential,
  expiry,
  missingOwnerOrPurpose,
  orphanedOwner,
  overdueRotation,
  rotationFailures,
  unusedCredential,
  longLived,
  neverRotated,
];
