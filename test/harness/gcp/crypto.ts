/**
 * The cryptography the GCP emulator needs, on node:crypto only: RSA-2048 key pairs like the ones
 * IAM makes for service-account keys, ids in Google's shapes, RS256 JWT checks for the token
 * endpoint and for self-signed JWT bearer tokens, opaque access tokens, and CRC32C (Castagnoli),
 * the checksum Secret Manager keeps per payload.
 */
import { createPublicKey, generateKeyPair, randomBytes, randomInt, verify, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';

const generate = promisify(generateKeyPair);

export interface RsaKeyPair {
  /** PKCS#8 PEM, as in a key file's `private_key`. */
  privateKeyPem: string;
  publicKey: KeyObject;
}

/** A fresh RSA-2048 key pair (KEY_ALG_RSA_2048). */
export async function rsaKeyPair(): Promise<RsaKeyPair> {
  const { privateKey, publicKey } = await generate('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKey: createPublicKey(publicKey) };
}

/** A service-account key id: 40 hex digits. */
export const keyId = (): string => randomBytes(20).toString('hex');

/** A numeric id of `digits` digits (service-account unique ids are 21, project numbers 12). */
export function numericId(digits: number): string {
  let id = String(randomInt(1, 10));
  while (id.length < digits) id += String(randomInt(0, 10));
  return id;
}

/** An opaque OAuth access token in Google's shape. */
export const accessToken = (): string => `ya29.${randomBytes(48).toString('base64url')}`;

export interface ParsedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** `base64url(header).base64url(payload)`, what the signature covers. */
  signingInput: string;
  signature: Buffer;
}

/** A compact JWS split and decoded; null for anything that is not one. */
export function parseJwt(token: string): ParsedJwt | null {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const payload = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (!isObject(header) || !isObject(payload)) return null;
    return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2]!, 'base64url') };
  } catch {
    return null;
  }
}

/** Whether an RS256 signature over the JWT verifies with the public key. */
export function rs256Verifies(jwt: ParsedJwt, publicKey: KeyObject): boolean {
  if (jwt.header.alg !== 'RS256') return false;
  try {
    return verify('RSA-SHA256', Buffer.from(jwt.signingInput), publicKey, jwt.signature);
  } catch {
    return false;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** CRC32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: slow, small, obviously right. */
export function crc32c(data: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
