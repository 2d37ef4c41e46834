import { z } from 'zod';
import { GcpConnectionFields } from '../gcp-shared.js';

const FULL_NAME = /^projects\/([^/\s]+)\/secrets\/([A-Za-z0-9_-]{1,255})$/;

export const GcpSecretManagerSpecSchema = z
  .strictObject({
    /**
     * The secret: its full name `projects/<project>/secrets/<id>`, or its id with `project`. It must
     * exist. (Not called `secret`: the policy loader takes a key of that name for a secret value.)
     */
    secretId: z
      .string()
      .regex(/^(projects\/[^/\s]+\/secrets\/)?[A-Za-z0-9_-]{1,255}$/, { message: 'must be a secret id, or a full name like projects/my-project/secrets/my-secret' }),
    /** The project of a bare secretId (id or number). */
    project: z
      .string()
      .regex(/^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$|^\d{6,20}$/, { message: 'must be a project id or number' })
      .optional(),
    /** Another API endpoint than https://secretmanager.googleapis.com (a regional or private endpoint, a local emulator). */
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    ...GcpConnectionFields,
    /**
     * What happens to a version once it leaves every stage (the old `previous`, a discarded or stale
     * `pending`, a rolled-back write): `disable` (default; reversible), `destroy` (the data is erased
     * for good) or `keep` (left enabled).
     */
    oldVersions: z.enum(['disable', 'destroy', 'keep']).default('disable'),
  })
  .refine((s) => FULL_NAME.test(s.secretId) === (s.project === undefined), {
    message: 'give either secretId: projects/<project>/secrets/<id>, or a bare secretId with project',
    path: ['project'],
  });

export type GcpSecretManagerSpec = z.infer<typeof GcpSecretManagerSpecSchema>;

/** `projects/<project>/secrets/<id>`. */
export function secretName(spec: GcpSecretManagerSpec): string {
  return FULL_NAME.test(spec.secretId) ? spec.secretId : `projects/${spec.project}/secrets/${spec.secretId}`;
}
