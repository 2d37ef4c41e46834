import { z } from 'zod';
import { AwsConnectionFields } from '../aws-shared.js';

export const AwsIamAccessKeySpecSchema = z.strictObject({
  /** The IAM user whose access keys are rotated. */
  userName: z.string().regex(/^[\w+=,.@-]{1,64}$/, { message: 'must be an IAM user name (letters, digits and +=,.@_-, at most 64)' }),
  ...AwsConnectionFields,
  /**
   * When both of the user's key slots are taken by keys Rotor does not know, delete an Inactive one
   * to make room (logged). Off by default: Rotor refuses and names the keys instead.
   */
  allowDeleteInactive: z.boolean().default(false),
});

export type AwsIamAccessKeySpec = z.infer<typeof AwsIamAccessKeySpecSchema>;
