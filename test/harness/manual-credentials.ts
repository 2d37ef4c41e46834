/** The `kind: manual-credential` document the manual-credentials tests declare. */
import type { RotorEnv } from './env.js';

const DAY_MS = 86_400_000;

/** A manual credential whose expiry date is `days` days after the Temporal server's today (virtual on the time-skipping server). */
export async function manualCredentialYaml(env: RotorEnv, id: string, days: number, extra = ''): Promise<string> {
  const expires = new Date((await env.temporal.now()) + days * DAY_MS).toISOString().slice(0, 10);
  return `kind: manual-credential
id: ${id}
owner: team-release
purpose: Fine-grained PAT the release bot uses to push tags
environment: production
system: github
type: github-fine-grained-pat
expires: ${expires}
remindBefore: [14d, 3d]
howToRotate: https://wiki.example.com/runbooks/${id}
notify:
  webhook: env:RELEASE_HOOK
${extra}`;
}
