/**
 * GitLab access tokens in memory: personal, project and group tokens, and the rotation rules of
 * GitLab's REST API. Rotating revokes the old token at once and returns a new one (new id, same name,
 * scopes and access level). Reuse detection: presenting an already rotated token to a rotate endpoint
 * revokes the newer tokens of its family as well, so a stolen old token cannot mint fresh ones.
 */
import { randomBytes } from 'node:crypto';

export type TokenKind = 'personal' | 'project' | 'group';

export interface TokenRecord {
  id: number;
  name: string;
  /** The secret value; only ever served by the rotate endpoints, on creation. */
  token: string;
  kind: TokenKind;
  /** Project or group id (as a string) for project and group tokens. */
  resource?: string;
  user_id: number;
  scopes: string[];
  access_level?: number;
  revoked: boolean;
  created_at: string;
  last_used_at: string | null;
  /** `YYYY-MM-DD`. */
  expires_at: string;
  /** The token this one replaced by rotation. */
  previousId?: number;
  /** The token that replaced this one. */
  successorId?: number;
}

export interface User {
  id: number;
  username: string;
  admin: boolean;
}

const DAY = 86_400_000;
export const MAX_LIFETIME_DAYS = 365;

export function dateOnly(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

export class TokenStore {
  #nextTokenId = 100;
  #nextUserId = 10;
  readonly tokens = new Map<number, TokenRecord>();
  readonly users = new Map<number, User>();
  /** `project:<id>` / `group:<id>` → user id → access level (40 maintainer, 50 owner). */
  readonly members = new Map<string, Map<number, number>>();

  constructor(readonly nowMs: () => number) {}

  now(): string {
    return new Date(this.nowMs()).toISOString();
  }

  user(username: string, admin = false): User {
    const existing = [...this.users.values()].find((u) => u.username === username);
    if (existing) return existing;
    const user = { id: this.#nextUserId++, username, admin };
    this.users.set(user.id, user);
    return user;
  }

  create(fields: Omit<TokenRecord, 'id' | 'token' | 'revoked' | 'created_at' | 'last_used_at'>): TokenRecord {
    const record: TokenRecord = {
      ...fields,
      id: this.#nextTokenId++,
      token: `glpat-${randomBytes(15).toString('base64url')}`,
      revoked: false,
      created_at: this.now(),
      last_used_at: null,
    };
    this.tokens.set(record.id, record);
    return record;
  }

  byValue(value: string): TokenRecord | undefined {
    return [...this.tokens.values()].find((t) => t.token === value);
  }

  active(t: TokenRecord): boolean {
    return !t.revoked && t.expires_at >= dateOnly(this.nowMs());
  }

  /** Revokes `old` and returns its replacement. */
  rotate(old: TokenRecord, expiresAt: string): TokenRecord {
    old.revoked = true;
    const { name, kind, resource, user_id, scopes, access_level } = old;
    const next = this.create({ name, kind, ...(resource ? { resource } : {}), user_id, scopes, ...(access_level ? { access_level } : {}), expires_at: expiresAt, previousId: old.id });
    old.successorId = next.id;
    return next;
  }

  /** Reuse detection: revokes every newer token rotated from `t`. */
  revokeSuccessors(t: TokenRecord): void {
    for (let id = t.successorId; id !== undefined; id = this.tokens.get(id)?.successorId) {
      const successor = this.tokens.get(id);
      if (successor) successor.revoked = true;
    }
  }

  /** The `expires_at` of a rotation: a date within GitLab's maximum lifetime; one week when absent. */
  expiry(requested: unknown): { ok: string } | { error: string } {
    const today = this.nowMs();
    if (requested === undefined || requested === null || requested === '') return { ok: dateOnly(today + 7 * DAY) };
    if (typeof requested !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(requested) || Number.isNaN(Date.parse(requested))) {
      return { error: 'expires_at is invalid' };
    }
    if (requested <= dateOnly(today)) return { error: 'Expiration date must be in the future' };
    if (requested > dateOnly(today + MAX_LIFETIME_DAYS * DAY)) return { error: `Expiration date must not be more than ${MAX_LIFETIME_DAYS} days in the future` };
    return { ok: requested };
  }

  /** The token as GitLab's API shows it (without the value). */
  view(t: TokenRecord): Record<string, unknown> {
    return {
      id: t.id,
      name: t.name,
      revoked: t.revoked,
      created_at: t.created_at,
      description: null,
      scopes: t.scopes,
      user_id: t.user_id,
      last_used_at: t.last_used_at,
      active: this.active(t),
      expires_at: t.expires_at,
      ...(t.access_level ? { access_level: t.access_level } : {}),
    };
  }
}
