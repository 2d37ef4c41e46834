/**
 * How the secret stores that hold a string (AWS Secrets Manager, GCP Secret Manager, Azure Key
 * Vault) keep material: a JSON object of its fields, keys sorted so the same material always makes
 * the same text (the stores' idempotency compares it), and its id read back from the field the
 * credential type declares as its id (`produces.idField`, handed to the store in ctx.material).
 */
import type { Material } from '../lib/material.js';
import type { MaterialShape } from './contracts.js';

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

/** The id a stored object names in the credential's declared id field; undefined when it declares none or the field is empty. */
export function idFromFields(fields: Record<string, string>, shape: MaterialShape | undefined): string | undefined {
  const field = shape?.idField;
  return field ? fields[field] || undefined : undefined;
}

/** Why `material` cannot be kept in a store that reads ids back from a field; undefined when it can. */
export function idFieldRefusal(material: Material, shape: MaterialShape | undefined, store: string): string | undefined {
  if (!shape?.idField) return `material ${material.id} cannot be stored in ${store}: its credential type declares no id field, and ${store} reads ids back from one`;
  if (idFromFields(material.revealAll(), shape) === material.id) return undefined;
  return `material ${material.id} cannot be stored in ${store}: its id must be the value of its declared id field ${shape.idField}`;
}
