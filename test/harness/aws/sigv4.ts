/**
 * Verification of AWS Signature Version 4, as AWS does it: rebuild the canonical request from what
 * arrived, the string to sign from its hash and the credential scope, derive the signing key from
 * the secret key (HMAC chain date → region → service → aws4_request) and compare signatures.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** AWS refuses requests signed more than 15 minutes away from its clock. */
const MAX_SKEW_MS = 15 * 60 * 1000;

export interface SigV4Auth {
  accessKeyId: string;
  /** yyyymmdd of the credential scope. */
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export interface ArrivedRequest {
  method: string;
  /** The path as it arrived (URI-encoded once by the client), without the query string. */
  path: string;
  /** The raw query string without `?`. */
  query: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Parses `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=…, Signature=…`; null when malformed. */
export function parseAuthorization(header: string | undefined): SigV4Auth | null {
  if (!header?.startsWith(`${ALGORITHM} `)) return null;
  const parts = Object.fromEntries(
    header
      .slice(ALGORITHM.length + 1)
      .split(',')
      .map((p) => p.trim().split('=', 2) as [string, string]),
  );
  const scope = (parts.Credential ?? '').split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request' || !parts.SignedHeaders || !/^[0-9a-f]{64}$/.test(parts.Signature ?? '')) return null;
  const [accessKeyId, date, region, service] = scope as [string, string, string, string];
  return { accessKeyId, date, region, service, signedHeaders: parts.SignedHeaders.split(';'), signature: parts.Signature! };
}

/** Why a well-formed signature cannot be valid regardless of the key (wrong scope, clock skew), or null. */
export function scopeProblem(req: ArrivedRequest, auth: SigV4Auth, region: string, now = Date.now()): string | null {
  const amzDate = headerValue(req.headers, 'x-amz-date');
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) return 'Request is missing the X-Amz-Date header or it is malformed.';
  if (amzDate.slice(0, 8) !== auth.date) return `Credential should be scoped to a valid date, not '${auth.date}'.`;
  if (auth.region !== region) return `Credential should be scoped to a valid region, not '${auth.region}'.`;
  if (!auth.signedHeaders.includes('host')) return "'Host' must be a signed header.";
  const signedAt = Date.parse(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  if (Math.abs(now - signedAt) > MAX_SKEW_MS) return `Signature expired: ${amzDate} is now earlier or later than the allowed 15 minutes.`;
  return null;
}

/** True when the request's signature is the one `secretAccessKey` makes. */
export function signatureMatches(req: ArrivedRequest, auth: SigV4Auth, secretAccessKey: string): boolean {
  const expected = Buffer.from(sign(req, auth, secretAccessKey), 'hex');
  const given = Buffer.from(auth.signature, 'hex');
  return expected.length === given.length && timingSafeEqual(expected, given);
}

function sign(req: ArrivedRequest, auth: SigV4Auth, secretAccessKey: string): string {
  const canonicalRequest = [
    req.method.toUpperCase(),
    canonicalPath(req.path),
    canonicalQuery(req.query),
    auth.signedHeaders.map((name) => `${name}:${canonicalHeaderValue(req.headers, name)}\n`).join(''),
    auth.signedHeaders.join(';'),
    sha256(req.body),
  ].join('\n');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const stringToSign = [ALGORITHM, headerValue(req.headers, 'x-amz-date'), scope, sha256(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${secretAccessKey}`, auth.date);
  for (const part of [auth.region, auth.service, 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

/** RFC 3986 percent-encoding, the form SigV4 canonicalises to. */
function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Services other than S3 encode each path segment once more for the canonical request. */
function canonicalPath(path: string): string {
  return path
    .split('/')
    .map((segment) => encodeRfc3986(segment))
    .join('/');
}

function canonicalQuery(query: string): string {
  if (!query) return '';
  return query
    .split('&')
    .filter(Boolean)
    .map((pair) => {
      const [name, value = ''] = pair.split('=', 2) as [string, string?];
      return [encodeRfc3986(decodeURIComponent(name)), encodeRfc3986(decodeURIComponent(value.replace(/\+/g, ' ')))] as const;
    })
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

function canonicalHeaderValue(headers: IncomingHttpHeaders, name: string): string {
  return (headerValue(headers, name) ?? '').trim().replace(/\s+/g, ' ');
}

function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}
