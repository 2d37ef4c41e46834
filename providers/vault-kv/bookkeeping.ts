/**
 * Rotor's bookkeeping in a secret's custom_metadata: which versions hold the current and previous
 * material, their public ids, the rotation that wrote last and the fingerprint of current.
 * Fingerprints and ids only: custom_metadata is readable with metadata rights, so never a value.
 */
import type { CustomMetadata } from './kv.js';

export interface Bookkeeping {
  currentVersion?: number;
  currentId?: string;
  previousVersion?: number;
  previousId?: string;
  /** The rotation that wrote last. */
  rotation?: string;
  /** Fingerprint of the current material. */
  fingerprint?: string;
}

const KEYS = {
  currentVersion: 'rotor_current_version',
  currentId: 'rotor_current_id',
  previousVersion: 'rotor_previous_version',
  previousId: 'rotor_previous_id',
  rotation: 'rotor_rotation',
  fingerprint: 'rotor_fingerprint',
} as const satisfies Record<keyof Bookkeeping, string>;

/** Keys of the pending secret. */
export const PENDING_KEYS = { rotation: 'rotor_rotation', id: 'rotor_id', fingerprint: 'rotor_fingerprint' } as const;

function version(text: string | undefined): number | undefined {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function readBookkeeping(custom: CustomMetadata): Bookkeeping {
  return {
    currentVersion: version(custom[KEYS.currentVersion]),
    currentId: custom[KEYS.currentId],
    previousVersion: version(custom[KEYS.previousVersion]),
    previousId: custom[KEYS.previousId],
    rotation: custom[KEYS.rotation],
    fingerprint: custom[KEYS.fingerprint],
  };
}

/** The custom_metadata with Rotor's keys replaced by `book`; other keys (an operator's) are kept. */
export function withBookkeeping(custom: CustomMetadata, book: Bookkeeping): CustomMetadata {
  const rotorKeys = new Set<string>(Object.values(KEYS));
  const out = Object.fromEntries(Object.entries(custom).filter(([k]) => !rotorKeys.has(k)));
  for (const [field, key] of Object.entries(KEYS) as [keyof Bookkeeping, string][]) {
    const value = book[field];
    // Vault refuses empty values: an absent field is left out.
    if (value !== undefined && value !== '') out[key] = String(value);
  }
  return out;
}
