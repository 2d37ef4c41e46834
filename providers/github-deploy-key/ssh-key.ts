/**
 * Ed25519 SSH keys in OpenSSH's own formats, from node:crypto: the public key as `ssh-ed25519 AAAA…`
 * and the private key as an unencrypted `-----BEGIN OPENSSH PRIVATE KEY-----` block (openssh-key-v1,
 * what `ssh-keygen -t ed25519 -N ''` writes), which every ssh and git client loads. Node exports
 * ed25519 only as PKCS8/JWK, so the OpenSSH encoding is built here (PROTOCOL.key in OpenSSH).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';

const TYPE = 'ssh-ed25519';
const MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');
const BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const END = '-----END OPENSSH PRIVATE KEY-----';

export interface SshKeyPair {
  /** `ssh-ed25519 AAAA…` (no comment). */
  publicKey: string;
  /** OpenSSH private key block, unencrypted. */
  privateKey: string;
  /** `SHA256:…`, as `ssh-keygen -l` and GitHub's settings page show it. */
  fingerprint: string;
}

function sshString(data: Buffer | string): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** Reads SSH wire-format strings from a buffer, failing on truncation. */
class Reader {
  #offset = 0;
  constructor(readonly bytes: Buffer) {}
  uint32(): number {
    if (this.#offset + 4 > this.bytes.length) throw new Error('truncated');
    const n = this.bytes.readUInt32BE(this.#offset);
    this.#offset += 4;
    return n;
  }
  string(): Buffer {
    const length = this.uint32();
    if (this.#offset + length > this.bytes.length) throw new Error('truncated');
    const out = this.bytes.subarray(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }
}

const publicBlob = (raw: Buffer) => Buffer.concat([sshString(TYPE), sshString(raw)]);

/** `SHA256:<unpadded base64>` of a public key line's blob. */
export function sshFingerprint(publicKey: string): string {
  const blob = Buffer.from(publicKey.trim().split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** The `type base64` part of a public key line, for comparing keys regardless of comments. */
export function normalizePublicKey(publicKey: string): string {
  return publicKey.trim().split(/\s+/).slice(0, 2).join(' ');
}

export function generateSshKeyPair(comment: string): SshKeyPair {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const pk = Buffer.from(jwk.x!, 'base64url');
  const seed = Buffer.from(jwk.d!, 'base64url');
  const blob = publicBlob(pk);
  const check = randomBytes(4);
  let section = Buffer.concat([check, check, sshString(TYPE), sshString(pk), sshString(Buffer.concat([seed, pk])), sshString(comment)]);
  // Padded to the cipher block size (8 for "none") with bytes 1, 2, 3…
  const padding = (8 - (section.length % 8)) % 8;
  section = Buffer.concat([section, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
  const body = Buffer.concat([MAGIC, sshString('none'), sshString('none'), sshString(''), uint32(1), sshString(blob), sshString(section)]);
  const lines = body.toString('base64').match(/.{1,70}/g)!;
  const publicKey = `${TYPE} ${blob.toString('base64')}`;
  return { publicKey, privateKey: `${BEGIN}\n${lines.join('\n')}\n${END}\n`, fingerprint: sshFingerprint(publicKey) };
}

/**
 * The public key line of an unencrypted OpenSSH ed25519 private key, after proving that its private
 * half signs what its public half verifies. Throws without quoting the key.
 */
export function publicKeyOfPrivate(privateKey: string): string {
  const text = privateKey.trim();
  if (!text.startsWith(BEGIN) || !text.endsWith(END)) throw new Error('not an OpenSSH private key block');
  const body = Buffer.from(text.slice(BEGIN.length, -END.length).replace(/\s+/g, ''), 'base64');
  if (!body.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('not an openssh-key-v1 private key');
  const reader = new Reader(body.subarray(MAGIC.length));
  if (reader.string().toString() !== 'none') throw new Error('the private key is encrypted; Rotor only handles unencrypted keys');
  reader.string(); // kdf name
  reader.string(); // kdf options
  if (reader.uint32() !== 1) throw new Error('expected exactly one key');
  const blob = reader.string();
  const section = new Reader(reader.string());
  if (section.uint32() !== section.uint32()) throw new Error('the private key section is corrupt (check bytes differ)');
  if (section.string().toString() !== TYPE) throw new Error(`not an ${TYPE} key`);
  const pk = section.string();
  const sk = section.string();
  if (pk.length !== 32 || sk.length !== 64 || !publicBlob(pk).equals(blob)) throw new Error('the private key section does not match its public key');
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: pk.toString('base64url') };
  const signer = createPrivateKey({ key: { ...jwk, d: sk.subarray(0, 32).toString('base64url') }, format: 'jwk' });
  const probe = randomBytes(32);
  if (!verify(null, probe, createPublicKey({ key: jwk, format: 'jwk' }), sign(null, probe, signer))) {
    throw new Error('the private key does not belong to its public key');
  }
  return `${TYPE} ${blob.toString('base64')}`;
}
