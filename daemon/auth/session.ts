/**
 * Sealed cookies: the console's session and the short-lived state of a login in progress. Each is
 * a JWE (dir + A256GCM, via jose): encrypted and authenticated, so a browser can neither read nor
 * change it, and expiring on its own (`exp`, checked on every request).
 */
import { createHash, randomBytes } from 'node:crypto';
import { EncryptJWT, jwtDecrypt } from 'jose';

/** What a logged-in person's session holds (no token from the IdP: Rotor needs only who it is). */
export interface SessionClaims {
  sub: string;
  name: string;
  groups: string[];
  /** The CSRF token of this session: forms send it as `_csrf`, scripts as the `x-csrf-token` header. */
  csrf: string;
}

/** The state of one login between /ui/login and /ui/callback. */
export interface LoginClaims {
  state: string;
  nonce: string;
  verifier: string;
  /** Where to go after the login (a path under /ui only). */
  returnTo: string;
}

export class Sealer {
  private readonly key: Uint8Array;

  /** `secret`: the operator's session key (ROTOR_SESSION_KEY_REF), or undefined for a random one per process. */
  constructor(secret?: string) {
    // SHA-256 gives the 256-bit key A256GCM needs from a passphrase of any length.
    this.key = new Uint8Array(secret ? createHash('sha256').update(`rotor-session:${secret}`).digest() : randomBytes(32));
  }

  /**
   * Sessions logged out in this process, until they would have expired anyway. Another replica does
   * not know of them: there a cookie copied before the logout stays valid until its expiry.
   */
  private readonly revoked = new Map<string, number>();

  async seal(purpose: 'session' | 'login', claims: object, ttlSeconds: number): Promise<string> {
    return new EncryptJWT({ ...claims })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setJti(randomToken())
      .setIssuedAt()
      .setAudience(`rotor:${purpose}`)
      .setExpirationTime(`${ttlSeconds}s`)
      .encrypt(this.key);
  }

  revoke(jti: string, expiresAtSeconds: number): void {
    const now = Date.now() / 1000;
    for (const [id, exp] of this.revoked) if (exp < now) this.revoked.delete(id);
    this.revoked.set(jti, expiresAtSeconds);
  }

  /** The claims, or undefined for anything not sealed by this key for this purpose, or expired. */
  async open<T>(purpose: 'session' | 'login', value: string | undefined): Promise<T | undefined> {
    if (!value || value.length > 4096) return undefined;
    try {
      const { payload } = await jwtDecrypt(value, this.key, { audience: `rotor:${purpose}`, keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      if (payload.jti && this.revoked.has(payload.jti)) return undefined;
      return payload as T;
    } catch {
      return undefined;
    }
  }
}

/** Ends a sealed session before its expiry (logout). */
export async function revokeSealed(sealer: Sealer, purpose: 'session' | 'login', value: string | undefined): Promise<void> {
  const claims = await sealer.open<{ jti?: string; exp?: number }>(purpose, value);
  if (claims?.jti) sealer.revoke(claims.jti, claims.exp ?? 0);
}

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}
