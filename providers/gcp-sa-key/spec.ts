import { z } from 'zod';
import { DurationSchema } from '../../config/duration.js';
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
  /**
   * Drain detection: `policy-analyzer` (the default) asks Policy Analyzer when the old key last
   * authenticated; `none` reads no signal, and revoke waits for the grace period alone.
   */
  drainSignal: z.enum(['policy-analyzer', 'none']).optional(),
  /**
   * Each check asks "authenticated within this long of now?" when that reaches further back than
   * the previous check: Policy Analyzer reports an authentication up to a day or two late, stamped
   * with the time it happened, so a window of "since the previous check" would miss it.
   */
  drainLookback: DurationSchema.default('48h'),
  /** Another Policy Analyzer API root than https://policyanalyzer.googleapis.com/ (a private endpoint or a local emulator). */
  policyAnalyzerEndpoint: z.url({ protocol: /^https?$/ }).optional(),
  /** Another Cloud Resource Manager API root than https://cloudresourcemanager.googleapis.com/ (posture: the project's IAM policy). */
  resourceManagerEndpoint: z.url({ protocol: /^https?$/ }).optional(),
  ...GcpConnectionFields,
});

export type GcpSaKeySpec = z.infer<typeof GcpSaKeySpecSchema>;

/**
 * The account's project id: the spec's `project`, else taken from the email
 * (`name@PROJECT.iam.gserviceaccount.com`, `PROJECT@appspot.gserviceaccount.com`); undefined when
 * neither tells (IAM then takes `-`, which Policy Analyzer does not).
 */
export function projectOf(spec: GcpSaKeySpec): string | undefined {
  if (spec.project) return spec.project;
  return (
    /^[^@]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/.exec(spec.serviceAccount)?.[1] ??
    /^([a-z][a-z0-9-]{4,28}[a-z0-9])@appspot\.gserviceaccount\.com$/.exec(spec.serviceAccount)?.[1]
  );
}

/** The account's resource name for IAM: `projects/<project or ->/serviceAccounts/<email>`. */
export function accountName(spec: GcpSaKeySpec): string {
  const derived = /^[^@]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/.exec(spec.serviceAccount)?.[1];
  return `projects/${spec.project ?? derived ?? '-'}/serviceAccounts/${spec.serviceAccount}`;
}
