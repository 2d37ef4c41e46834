/**
 * Google's two ways a service-account key proves itself, both strict:
 *
 * - The OAuth token endpoint (`POST /token`, grant_type `urn:ietf:params:oauth:grant-type:jwt-bearer`):
 *   the assertion is an RS256 JWT with iss = the account, aud = the token URL, a scope, and a
 *   lifetime of at most an hour. The signature must verify with the key named by `kid` when the
 *   header has one (google-auth-library's JWT client sends none), otherwise with one of the
 *   account's keys. Unknown, disabled, deleted, expired or not yet propagated keys fail as Google
 *   fails them: HTTP 400 `invalid_grant`. Success issues an opaque `ya29.` token bound to the
 *   account and key.
 * - Self-signed JWTs sent directly as bearer tokens (google-gax's clients do this for service
 *   accounts: `useJWTAccessWithScope`): header `kid` is required, iss = sub = the account, a
 *   `scope` or an `aud`, at most an hour long; checked against the key's state on every request.
 *
 * Both are authentications by the key: each accepted one is reported to `onKeyAuthenticated`
 * (Policy Analyzer's key last-authentication activity). API calls without a valid bearer get 401
 * UNAUTHENTICATED with Google's messages. Emulator
 * choice, stricter than Google documents: opaque tokens die with the key that minted them.
 */
import { accessToken, parseJwt, rs256Verifies, type ParsedJwt } from './crypto.js';
import type { IamState, KeyRecord } from './iam.js';
import { GcpError, OAuthError } from './wire.js';

export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const MAX_LIFETIME_S = 3600;
const CLOCK_SKEW_S = 300;
const TOKEN_LIFETIME_MS = 3600_000;

const INVALID_CREDENTIALS =
  'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';
const MISSING_CREDENTIALS =
  'Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.';

interface IssuedToken {
  email: string;
  keyId: string;
  expiresAt: number;
}

/** Who a request authenticated as, and with which key. */
export interface Caller {
  email: string;
  keyId: string;
  via: 'access-token' | 'self-signed-jwt';
}

export class TokenService {
  readonly tokens = new Map<string, IssuedToken>();

  constructor(
    private readonly iam: IamState,
    /** This emulator's own token URL, accepted as `aud` besides Google's. */
    private readonly tokenUri: string,
    /** Told of every JWT a key signed that was accepted (a token granted, a self-signed JWT taken). */
    private readonly onKeyAuthenticated: (key: KeyRecord, at: number) => void = () => {},
  ) {}

  /** `POST /token`: an access token for a valid JWT-bearer assertion, or Google's OAuth error. */
  grant(form: URLSearchParams, now = Date.now()): { access_token: string; expires_in: number; token_type: 'Bearer' } {
    const grantType = form.get('grant_type') ?? '';
    if (grantType !== JWT_BEARER) throw new OAuthError('unsupported_grant_type', `Invalid grant_type: ${grantType}`);
    const jwt = parseJwt(form.get('assertion') ?? '');
    if (!jwt) throw new OAuthError('invalid_grant', 'Invalid JWT: Failed to parse the assertion.');
    const { iss, aud, scope, iat, exp } = jwt.payload;
    if (typeof iss !== 'string' || !this.iam.accounts.has(iss)) throw new OAuthError('invalid_grant', 'Invalid grant: account not found');
    if (aud !== GOOGLE_TOKEN_URL && aud !== this.tokenUri) throw new OAuthError('invalid_grant', 'Invalid JWT: Failed audience check.');
    if (!lifetimeOk(iat, exp, now)) {
      throw new OAuthError('invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.');
    }
    if (typeof scope !== 'string' || scope.trim() === '') throw new OAuthError('invalid_grant', 'Invalid OAuth scope or ID token audience provided.');
    const key = this.signingKey(jwt, iss, now);
    if (!key) throw new OAuthError('invalid_grant', 'Invalid JWT Signature.');
    this.onKeyAuthenticated(key, now);
    const token = accessToken();
    this.tokens.set(token, { email: iss, keyId: key.id, expiresAt: now + TOKEN_LIFETIME_MS });
    this.iam.issuedSecrets.push(token);
    return { access_token: token, expires_in: TOKEN_LIFETIME_MS / 1000 - 1, token_type: 'Bearer' };
  }

  /** The caller of an API request, from its Authorization header; 401 UNAUTHENTICATED otherwise. */
  authenticate(authorization: string | undefined, now = Date.now()): Caller {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!match) throw unauthenticated(MISSING_CREDENTIALS);
    const bearer = match[1]!;
    const issued = this.tokens.get(bearer);
    if (issued) {
      const key = this.iam.keys.get(issued.keyId);
      if (issued.expiresAt <= now || !this.iam.usable(key, now)) throw unauthenticated(INVALID_CREDENTIALS);
      return { email: issued.email, keyId: issued.keyId, via: 'access-token' };
    }
    const jwt = parseJwt(bearer);
    if (!jwt) throw unauthenticated(INVALID_CREDENTIALS);
    const { iss, sub, aud, scope, iat, exp } = jwt.payload;
    const kid = jwt.header.kid;
    if (typeof kid !== 'string' || typeof iss !== 'string' || sub !== iss || !lifetimeOk(iat, exp, now)) throw unauthenticated(INVALID_CREDENTIALS);
    if ((typeof scope !== 'string' || scope === '') && (typeof aud !== 'string' || aud === '')) throw unauthenticated(INVALID_CREDENTIALS);
    const key = this.signingKey(jwt, iss, now);
    if (!key) throw unauthenticated(INVALID_CREDENTIALS);
    this.onKeyAuthenticated(key, now);
    return { email: iss, keyId: key.id, via: 'self-signed-jwt' };
  }

  /** The usable key of the account that signed the JWT: the `kid` one only, or any of its keys. */
  private signingKey(jwt: ParsedJwt, email: string, now: number): KeyRecord | undefined {
    const kid = jwt.header.kid;
    const candidates =
      typeof kid === 'string' ? [this.iam.keys.get(kid)].filter((k): k is KeyRecord => k?.email === email) : [...this.iam.keys.values()].filter((k) => k.email === email);
    return candidates.find((k) => this.iam.usable(k, now) && rs256Verifies(jwt, k.publicKey));
  }
}

function lifetimeOk(iat: unknown, exp: unknown, now: number): boolean {
  if (typeof iat !== 'number' || typeof exp !== 'number') return false;
  const nowS = now / 1000;
  return exp > iat && exp - iat <= MAX_LIFETIME_S && iat <= nowS + CLOCK_SKEW_S && exp > nowS - CLOCK_SKEW_S;
}

function unauthenticated(message: string): GcpError {
  return new GcpError('UNAUTHENTICATED', message, [], { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' });
}
