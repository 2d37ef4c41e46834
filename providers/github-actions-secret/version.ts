/**
 * The version ids this dependent puts in receipts. GitHub never returns a secret's value and has no
 * version numbers, only `updated_at`; so a version is `<fingerprint>@<updated_at>`: the SHA-256
 * fingerprint of the value Rotor wrote (`unknown` for a value Rotor did not write) and the time GitHub
 * recorded for that write. Fingerprints only, never values.
 */
import { ProviderRefusal } from '../contracts.js';

export interface SecretVersion {
  fingerprint: string | null;
  updatedAt: string;
}

const UNKNOWN = 'unknown';

export function formatVersion({ fingerprint, updatedAt }: SecretVersion): string {
  return `${fingerprint ?? UNKNOWN}@${updatedAt}`;
}

export function parseVersion(text: string): SecretVersion {
  const at = text.lastIndexOf('@');
  const fingerprint = text.slice(0, at);
  const updatedAt = text.slice(at + 1);
  if (at <= 0 || !updatedAt || !(fingerprint === UNKNOWN || /^sha256:[0-9a-f]{64}$/.test(fingerprint))) {
    throw new ProviderRefusal(`"${text.slice(0, 100)}" is not a github-actions-secret version (<fingerprint>@<updated_at>)`);
  }
  return { fingerprint: fingerprint === UNKNOWN ? null : fingerprint, updatedAt };
}
