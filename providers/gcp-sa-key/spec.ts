import { z } from 'zod';
import { GcpConnectionFields } from '../gcp-shared.js';

export const GcpSaKeySpecSchema = z.strictObject({
  /** The service account whose user-managed keys are rotated (its email). */
  serviceAccount: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,62}@[a-z0-9][a-z0-9.-]*\.gserviceaccount\.com$/, { message: 'must be a service-account email like name@project.iam.gserviceaccount.com' }),
  /** Its project; by default taken from the email (`name@PROJECT.iam.gserviceaccount.com`), else `-`. */
  project: z
    .string()
    .regex(/^([a-z0-9.-]+:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$/, { message: 'must be a project id (6 to 30 lowercase letters, digits and hyphens)' })
    .optional(),
  /** Another IAM API root than https://iam.googleapis.com/ (a private endpoint or a local emulator). */
  iamEndpoint: z.url({ protocol: /^https?$/ }).optional(),
  ...GcpConnectionFields,
});

export type GcpSaKeySpec = z.infer<typeof GcpSaKeySpecSchema>;

/** The account's resource name for IAM: `projects/<project or ->/serviceAccounts/<email>`. */
export function accountName(spec: GcpSaKeySpec): string {
  const derived = /^[^@]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/.exec(spec.serviceAccount)?.[1];
  return `projects/${spec.project ?? derived ?? '-'}/serviceAccounts/${spec.serviceAccount}`;
}
