/**
 * `kind: manual-credential` documents in the policy directory: credentials no API can rotate
 * (GitHub fine-grained and classic PATs, GitHub App private keys, vendor API keys issued in a web
 * console). Rotor cannot rotate them, so it keeps them in the inventory, reminds their owner before
 * they expire and lists them in `rotor audit`, instead of skipping them silently.
 *
 * ```yaml
 * kind: manual-credential
 * id: release-bot-pat
 * owner: team-release
 * purpose: Fine-grained PAT the release bot uses to push tags
 * environment: production
 * system: github                      # where it lives
 * type: github-fine-grained-pat       # what it is (free text, shown in the inventory)
 * expires: 2027-03-01                 # its expiry, or the date you commit to rotating it by
 * remindBefore: [14d, 3d]             # default [14d, 3d, 1d]; a last reminder goes out on expiry
 * howToRotate: https://wiki.example.com/runbooks/release-bot-pat
 * notify: { webhook: env:RELEASE_SLACK_WEBHOOK }
 * ```
 *
 * After rotating it by hand, move `expires` forward: reminders start over for the new date.
 */
import { z } from 'zod';
import { PositiveDurationSchema } from './duration.js';
import { PolicySchema } from './policy.js';

export const MANUAL_CREDENTIAL_KIND = 'manual-credential';

export const DEFAULT_REMIND_BEFORE = ['14d', '3d', '1d'];

const ManualCredentialSchema = z.strictObject({
  kind: z.literal(MANUAL_CREDENTIAL_KIND),
  id: PolicySchema.shape.id,
  owner: PolicySchema.shape.owner,
  purpose: PolicySchema.shape.purpose,
  environment: PolicySchema.shape.environment,
  system: z.string().trim().min(1, 'is required: name the system the credential belongs to (e.g. github)'),
  type: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { message: 'must be a short lowercase name like github-fine-grained-pat' }).default('manual'),
  expires: z.iso.date({ error: 'is required: the date it expires, or the date you commit to rotating it by (YYYY-MM-DD)' }),
  remindBefore: z.array(PositiveDurationSchema).min(1, 'give at least one duration, or leave it out for the default').default(DEFAULT_REMIND_BEFORE),
  /** A runbook URL or a sentence: shown in reminders and audit findings. */
  howToRotate: z.string().trim().min(3).optional(),
  notify: PolicySchema.shape.notify,
});

export type ManualCredential = Omit<z.output<typeof ManualCredentialSchema>, 'kind'>;

export function isManualCredentialDocument(value: unknown): boolean {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === MANUAL_CREDENTIAL_KIND;
}

/** Validates one manual-credential document; reports problems by path and returns undefined when any. */
export function parseManualCredentialDocument(value: unknown, report: (path: PropertyKey[], message: string) => void): ManualCredential | undefined {
  const parsed = ManualCredentialSchema.safeParse(value);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) report(issue.path, issue.message);
    return undefined;
  }
  const { kind: _kind, ...credential } = parsed.data;
  return credential;
}
