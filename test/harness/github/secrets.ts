/**
 * GitHub's encrypted secrets (Actions, Dependabot; repository, environment and organization level), in
 * memory. Each target holds its own X25519 key pair, as GitHub does: a PUT must carry a value sealed
 * with the target's current public key (`crypto_box_seal`) and that key's id, or it is refused with 422.
 * Values are kept decrypted so tests can assert what a workflow would see; the API never returns them.
 */
import { randomInt } from 'node:crypto';
import sodium from 'libsodium-wrappers';
import type { Reply } from './http.js';

export type Visibility = 'all' | 'private' | 'selected';

export interface SecretRecord {
  name: string;
  /** The decrypted value: for test assertions only, never served. */
  value: string;
  created_at: string;
  updated_at: string;
  visibility?: Visibility;
  selected_repository_ids?: number[];
}

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const VISIBILITIES: Visibility[] = ['all', 'private', 'selected'];

const validationFailed = (message: string): Reply => ({
  status: 422,
  body: { message, documentation_url: 'https://docs.github.com/rest/actions/secrets', status: '422' },
});

const notFound: Reply = { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' } };

/** One place that holds secrets: a repository, an environment or an organization, for Actions or Dependabot. */
export class SecretTarget {
  #keyId = '';
  #keyPair!: { publicKey: Uint8Array; privateKey: Uint8Array };
  readonly #secrets = new Map<string, SecretRecord>();

  constructor(
    /** Organization targets need a visibility on every PUT. */
    readonly isOrg: boolean,
    readonly now: () => string,
  ) {
    this.rotateKey();
  }

  /** GitHub rotates public keys now and then; a value sealed for the old key_id is then refused. */
  rotateKey(): void {
    this.#keyPair = sodium.crypto_box_keypair();
    this.#keyId = `${randomInt(1e9, 9e9)}${randomInt(1e9, 9e9)}`;
  }

  get(name: string): SecretRecord | undefined {
    return this.#secrets.get(name.toUpperCase());
  }

  publicKey(): Reply {
    return { status: 200, body: { key_id: this.#keyId, key: sodium.to_base64(this.#keyPair.publicKey, sodium.base64_variants.ORIGINAL) } };
  }

  list(): Reply {
    const secrets = [...this.#secrets.values()].map((s) => this.#metadata(s));
    return { status: 200, body: { total_count: secrets.length, secrets } };
  }

  read(name: string): Reply {
    const secret = this.get(name);
    return secret ? { status: 200, body: this.#metadata(secret) } : notFound;
  }

  /** Create (201) or update (204), as GitHub answers. */
  put(name: string, body: Record<string, unknown>): Reply {
    if (!SECRET_NAME.test(name) || /^GITHUB_/i.test(name)) {
      return validationFailed('Secret names can only contain alphanumeric characters or underscores, must not start with a number or GITHUB_.');
    }
    const { encrypted_value: encrypted, key_id: keyId, visibility, selected_repository_ids: selected } = body;
    if (typeof keyId !== 'string' || keyId === '') return validationFailed('Invalid request.\n\n"key_id" wasn\'t supplied.');
    if (typeof encrypted !== 'string' || encrypted === '' || !BASE64.test(encrypted)) {
      return validationFailed('Invalid request.\n\n"encrypted_value" must be a base64-encoded string.');
    }
    if (keyId !== this.#keyId) return validationFailed('Invalid request.\n\n"key_id" does not match the current public key (stale key_id).');
    if (this.isOrg && !VISIBILITIES.includes(visibility as Visibility)) {
      return validationFailed('Invalid request.\n\n"visibility" must be one of all, private, selected.');
    }
    if (selected !== undefined && (!Array.isArray(selected) || !selected.every((id) => Number.isInteger(id)))) {
      return validationFailed('Invalid request.\n\n"selected_repository_ids" must be an array of integers.');
    }
    const value = this.#open(encrypted);
    if (value === undefined) return validationFailed('Invalid request.\n\n"encrypted_value" could not be decrypted with the public key of key_id.');
    const key = name.toUpperCase();
    const existing = this.#secrets.get(key);
    const now = this.now();
    this.#secrets.set(key, {
      name: key,
      value,
      created_at: existing?.created_at ?? now,
      updated_at: now,
      ...(this.isOrg ? { visibility: visibility as Visibility, selected_repository_ids: (selected as number[] | undefined) ?? existing?.selected_repository_ids ?? [] } : {}),
    });
    return existing ? { status: 204 } : { status: 201, body: {} };
  }

  delete(name: string): Reply {
    return this.#secrets.delete(name.toUpperCase()) ? { status: 204 } : notFound;
  }

  #open(encrypted: string): string | undefined {
    try {
      const sealed = sodium.from_base64(encrypted, sodium.base64_variants.ORIGINAL);
      return sodium.to_string(sodium.crypto_box_seal_open(sealed, this.#keyPair.publicKey, this.#keyPair.privateKey));
    } catch {
      return undefined;
    }
  }

  #metadata(secret: SecretRecord) {
    const { name, created_at, updated_at, visibility } = secret;
    return { name, created_at, updated_at, ...(visibility ? { visibility } : {}) };
  }
}
