/**
 * How the secret stores that hold a string (AWS Secrets Manager, GCP Secret Manager, Azure Key
 * Vault) keep material: a JSON object of its fields, keys sorted so the same material always makes
 * the same text (the stores' idempotency compares it), and its id read back from a known field.
 */
import type { Material } from '../lib/material.js';

/** Fields a material id is read back from, in this order. */
export const ID_FIELDS = ['accessKeyId', 'username', 'keyId'] as const;

export function materialJson(material: Material): string {
  const fields = material.revealAll();
  return JSON.stringify(Object.fromEntries(Object.keys(fields).sort().map((k) => [k, fields[k]])));
}

/** The fields of a stored text; null for anything but a JSON object (callers refuse without quoting it). */
export function jsonFields(text: string): Record<string, string> | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
}

export function idFromFields(fields: Record<string, string>): string | undefined {
  for (const name of ID_FIELDS) if (fields[name]) return fields[name];
  return undefined;
}
