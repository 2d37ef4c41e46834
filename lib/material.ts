import { createHash } from 'node:crypto';
import { inspect } from 'node:util';
import { REDACTED } from './redact.js';

/**
 * Secret material of one credential version: a public id (an AWS access key id, a role name, a key id)
 * and secret fields (password, secretAccessKey, private key...).
 *
 * The fields are held in a private map and never serialised: JSON.stringify, util.inspect, template
 * strings and Temporal's payload converter all see `[redacted]`. Code that must use a value asks for
 * it by name with reveal(), which keeps every place that touches a secret easy to find.
 */
export class Material {
  readonly #fields: ReadonlyMap<string, string>;

  constructor(
    /** Public identifier of this version in its own system; never a secret. */
    readonly id: string,
    fields: Record<string, string>,
  ) {
    this.#fields = new Map(Object.entries(fields));
  }

  /** The secret value of one field; throws if the field is missing so a typo is never an empty password. */
  reveal(name: string): string {
    const value = this.#fields.get(name);
    if (value === undefined) throw new Error(`material ${this.id} has no field "${name}"`);
    return value;
  }

  has(name: string): boolean {
    return this.#fields.has(name);
  }

  fieldNames(): string[] {
    return [...this.#fields.keys()].sort();
  }

  /** All fields, for writing to a secret store. The caller is a store provider, never a log line. */
  revealAll(): Record<string, string> {
    return Object.fromEntries(this.#fields);
  }

  /** SHA-256 over the sorted fields: lets dependents and leak reports be matched without the value. */
  fingerprint(): string {
    return fingerprintFields(this.revealAll());
  }

  toJSON(): unknown {
    return { id: this.id, fields: REDACTED };
  }

  toString(): string {
    return `Material(${this.id})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

export function fingerprintFields(fields: Record<string, string>): string {
  const canonical = JSON.stringify(Object.keys(fields).sort().map((k) => [k, fields[k]]));
  return `sha256:${createHash('sha256').update(canonical).digest('hex')}`;
}

/** SHA-256 of one raw value (a leaked token, say), the form `rotor leak` matches against. */
export function fingerprintValue(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex')}`;
}
