/**
 * GitHub deploy keys, in memory: immutable SSH public keys attached to one repository. A key may be
 * used by one repository only across GitHub, so adding one that is already in use anywhere is a 422.
 * Only well-formed `ssh-ed25519` keys are accepted here (the only kind Rotor makes).
 */
import type { Reply } from './http.js';

export interface DeployKey {
  id: number;
  /** `ssh-ed25519 AAAA…` without a comment, as GitHub stores it. */
  key: string;
  url: string;
  title: string;
  verified: boolean;
  created_at: string;
  read_only: boolean;
  added_by: string;
  last_used: string | null;
  enabled: boolean;
}

const ED25519 = 'ssh-ed25519';

const validationFailed = (message: string): Reply => ({
  status: 422,
  body: {
    message: 'Validation Failed',
    errors: [{ resource: 'PublicKey', code: 'custom', field: 'key', message }],
    documentation_url: 'https://docs.github.com/rest/deploy-keys/deploy-keys#create-a-deploy-key',
    status: '422',
  },
});

/** The key without its comment if it is a well-formed OpenSSH ed25519 public key, else undefined. */
export function parseEd25519PublicKey(text: string): string | undefined {
  const [type, blob] = text.trim().split(/\s+/); // anything after the blob is a comment
  if (type !== ED25519 || !blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) return undefined;
  const bytes = Buffer.from(blob, 'base64');
  // SSH wire format: string "ssh-ed25519", string <32-byte key>, nothing more.
  if (bytes.length !== 4 + ED25519.length + 4 + 32) return undefined;
  if (bytes.readUInt32BE(0) !== ED25519.length || bytes.subarray(4, 4 + ED25519.length).toString('latin1') !== ED25519) return undefined;
  if (bytes.readUInt32BE(4 + ED25519.length) !== 32) return undefined;
  return `${type} ${blob}`;
}

export class DeployKeys {
  #nextId = 1000;
  /** Repository (lowercase owner/name) → its keys. */
  readonly #byRepo = new Map<string, DeployKey[]>();

  constructor(
    readonly baseUrl: () => string,
    readonly now: () => string,
  ) {}

  keys(repo: string): DeployKey[] {
    let keys = this.#byRepo.get(repo);
    if (!keys) this.#byRepo.set(repo, (keys = []));
    return keys;
  }

  list(repo: string): Reply {
    return { status: 200, body: this.keys(repo) };
  }

  read(repo: string, id: string): Reply {
    const key = this.keys(repo).find((k) => String(k.id) === id);
    return key ? { status: 200, body: key } : notFound();
  }

  add(repo: string, addedBy: string, body: Record<string, unknown>): Reply {
    if (typeof body.key !== 'string') return validationFailed('key is missing');
    const key = parseEd25519PublicKey(body.key);
    if (!key) return validationFailed('key is invalid. You must supply a key in OpenSSH public key format (ssh-ed25519)');
    const inUse = [...this.#byRepo.values()].some((keys) => keys.some((k) => k.key === key));
    if (inUse) return validationFailed('key is already in use');
    if (body.read_only !== undefined && typeof body.read_only !== 'boolean') return validationFailed('read_only must be a boolean');
    const id = this.#nextId++;
    const record: DeployKey = {
      id,
      key,
      url: `${this.baseUrl()}/repos/${repo}/keys/${id}`,
      title: typeof body.title === 'string' ? body.title : '',
      verified: true,
      created_at: this.now(),
      read_only: (body.read_only as boolean | undefined) ?? false,
      added_by: addedBy,
      last_used: null,
      enabled: true,
    };
    this.keys(repo).push(record);
    return { status: 201, body: record };
  }

  delete(repo: string, id: string): Reply {
    const keys = this.keys(repo);
    const index = keys.findIndex((k) => String(k.id) === id);
    if (index === -1) return notFound();
    keys.splice(index, 1);
    return { status: 204 };
  }
}

function notFound(): Reply {
  return { status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/deploy-keys/deploy-keys', status: '404' } };
}
