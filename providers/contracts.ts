/**
 * The two provider contracts of the rotation protocol, plus the secret-store role a system can play
 * as a rotation's primary store, and what each declares it produces or can hold (checked by
 * config/capabilities.ts when a policy is validated, before anything runs).
 *
 * Providers know their own system and nothing of Temporal, policies or the run store. Every method
 * must be safe to call again with the same arguments: activities retry, and a retry must find the
 * work of the earlier attempt instead of doing it twice.
 */
import type { z } from 'zod';
import type { Material } from '../lib/material.js';
import type { Logger } from '../lib/logger.js';

/** `dual`: old and new are valid together; `single`: the secret is changed in place. */
export const STRATEGIES = ['dual', 'single'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** The material a credential type produces: its field names and which one, if any, is its public id. */
export interface MaterialShape {
  /** Every field its material has, e.g. `['username', 'password']`. */
  fields: readonly string[];
  /** The field whose value is the material's id (`accessKeyId`, `username`), or null when the id is none of them (a token id, a key fingerprint). */
  idField: string | null;
}

/** What every provider call receives besides its spec. */
export interface ProviderContext {
  /** Id of this rotation; the idempotency key for anything the call creates. */
  rotationId: string;
  /** Credential id from the policy, for tags and log lines. */
  credentialId: string;
  logger: Logger;
  /** Resolves a secret reference (`env:NAME`, `file:/path`, `vault:mount/path#key`) to its value. */
  resolveSecret(ref: string): Promise<string>;
  /** Aborted when the activity is cancelled or times out. */
  signal?: AbortSignal;
  /**
   * The shape of the rotated credential's material (its registration's `produces`): a store that
   * keeps no id of its own reads the id back from `idField`. Absent outside a rotation of a credential.
   */
  material?: MaterialShape;
}

/** Non-retryable failure: retrying cannot help (bad permissions, a refused limit, a wrong spec). */
export class ProviderRefusal extends Error {
  override readonly name = 'ProviderRefusal';
}

/** One credential as a system lists it, for discovery and posture (no secret values). */
export interface DiscoveredCredential {
  id: string;
  /** What it belongs to: an IAM user, an application, a role. */
  principal: string;
  createdAt?: string;
  lastUsedAt?: string;
  /**
   * The system reported this credential's use, so a missing lastUsedAt means never used. False when
   * it tracks none or its signal could not be read: then use is unknown.
   */
  usageTracked: boolean;
  expiresAt?: string;
  status: 'active' | 'inactive' | 'expired';
}

export interface CreateRequest {
  /** Material this rotation staged on an earlier attempt, if any: reuse it, never make a second one. */
  staged: Material | null;
  /** The material in service now (null on a first rotation). */
  current: Material | null;
  /** Stage new material in the primary store as pending. Call it as soon as the value exists. */
  stage(material: Material): Promise<void>;
}

/** Mints and kills secret material for one credential type. */
export interface CredentialSource<Spec> {
  strategies: readonly Strategy[];
  /**
   * Creating new material kills the old at once and cannot be undone (GitLab's rotate endpoint).
   * The protocol then never rolls back after create: it keeps the new material and escalates.
   */
  createRevokesOld?: boolean;
  /** Creates (or, after a retry, finds) new material and makes it valid in its system. */
  create(ctx: ProviderContext, spec: Spec, strategy: Strategy, req: CreateRequest): Promise<Material>;
  /** Proves the material authenticates against the real system; throws if it does not (yet). */
  verify(ctx: ProviderContext, spec: Spec, material: Material): Promise<void>;
  /** Undoes create after a failed rotation, leaving `current` as the one valid credential. */
  discard(ctx: ProviderContext, spec: Spec, strategy: Strategy, created: Material, current: Material | null): Promise<void>;
  /** Reversible step before revoke, where the system has one (the protocol never re-enables: rollback ends before promote). */
  disable?(ctx: ProviderContext, spec: Spec, old: Material): Promise<void>;
  /** Irreversibly invalidates old material. Revoking what is already gone is a success. */
  revoke(ctx: ProviderContext, spec: Spec, strategy: Strategy, old: Material): Promise<void>;
  /** What exists, for discovery. */
  list(ctx: ProviderContext, spec: Spec): Promise<DiscoveredCredential[]>;
  /**
   * Drain detection: is the old material still used since `since` (when the new one was promoted)?
   * Absent when the system gives no usage signal; then revoke waits only for the grace period.
   */
  inUse?(ctx: ProviderContext, spec: Spec, old: Material, since: Date): Promise<Usage>;
  /** Checks, changing nothing, that Rotor's identity can do every step here; returns what is missing. */
  preflight?(ctx: ProviderContext, spec: Spec, strategy: Strategy): Promise<string[]>;
  /** Posture: grants of the spec's principal broader than any one workload needs (admin, wildcard actions). */
  privileges?(ctx: ProviderContext, spec: Spec): Promise<PrivilegeFacts>;
  /** Decommission: irreversibly invalidates material even when it is the last valid one (revoke refuses that). */
  retire?(ctx: ProviderContext, spec: Spec, strategy: Strategy, material: Material): Promise<void>;
}

/** Over-privilege evidence for one principal: policy names and reasons, never secret values. */
export interface PrivilegeFacts {
  /** E.g. `AdministratorAccess attached`, `inline policy "ops" allows Action "*"`; empty when none found. */
  broad: string[];
}

/** What drain detection found: whether old material is still used, and the evidence. */
export interface Usage {
  inUse: boolean;
  /** E.g. "2 open sessions" or "last used 12:03 via s3"; no secret values. */
  detail: string;
}

/** Names the version a dependent held before a write, so restore can put it back. */
export interface Receipt {
  /** The dependent's own version id of what was written. */
  version: string;
  /** The version it held before, or null when the write created it. */
  previousVersion: string | null;
}

/** A place that holds or uses the material. */
export interface Dependent<Spec> {
  /** Writes the material; writing the same rotation again returns the same receipt. */
  write(ctx: ProviderContext, spec: Spec, material: Material): Promise<Receipt>;
  /** Puts back what the receipt says was there before (or removes what the write created). */
  restore(ctx: ProviderContext, spec: Spec, receipt: Receipt, previous?: Material | null): Promise<void>;
  /** Throws unless the dependent now serves this material (compared by fingerprint). */
  check(ctx: ProviderContext, spec: Spec, material: Material, receipt?: Receipt): Promise<void>;
  /** Checks, changing nothing, that Rotor can write here; returns what is missing. */
  preflight?(ctx: ProviderContext, spec: Spec): Promise<string[]>;
  /** Decommission: removes the material this dependent holds, every version. Removing what is gone succeeds. */
  remove?(ctx: ProviderContext, spec: Spec): Promise<void>;
}

export type Stage = 'pending' | 'current' | 'previous';

/**
 * A secret store that can be a rotation's primary store: the one place material lives between
 * activities, with the pending → current → previous lifecycle.
 */
export interface PrimaryStore<Spec> {
  /** Stores material as pending for this rotation; a second call for the same rotation is a no-op. */
  stagePending(ctx: ProviderContext, spec: Spec, material: Material): Promise<void>;
  /** Reads material at a stage; `pending` only returns material staged by ctx.rotationId. */
  read(ctx: ProviderContext, spec: Spec, stage: Stage): Promise<Material | null>;
  /** pending → current, current → previous. A repeat after success is a no-op. */
  promote(ctx: ProviderContext, spec: Spec): Promise<void>;
  /** Drops the pending material of ctx.rotationId (rollback). */
  discardPending(ctx: ProviderContext, spec: Spec): Promise<void>;
}

/** What a store can hold: the whole material, or the value of one field (`field` in its spec, else the material's only field). */
export type Holds = 'all-fields' | 'one-field';

/**
 * How a primary store knows a material's id when it reads it back: `kept` in its own metadata
 * (tags, custom metadata), so any material fits; or `id-field`: read from the credential's declared
 * id field, so only material whose id is one of its fields can be staged there.
 */
export type IdOnRead = 'kept' | 'id-field';

/** A credential type as registered: its workflow name, spec schema, source and what it produces. */
export interface CredentialProvider<S extends z.ZodType = z.ZodType> {
  type: string;
  /**
   * Named Temporal workflow, so the UI lists runs by type (e.g. `rotateDatabasePassword`); checked
   * at worker start-up against the workflows the worker's bundle exports.
   */
  workflow: string;
  /** Cadence when a policy gives none: databases and CI tokens 30d, cloud keys 90d. */
  defaultEvery: string;
  /** The audit's "long-lived" threshold for this type, in days (`rotor audit --max-age` overrides it). */
  maxAgeDays: number;
  spec: S;
  /** What its material holds: checked against every store of a policy before the policy is accepted. */
  produces: MaterialShape;
  source: CredentialSource<z.infer<S>>;
}

/** A secret store or consumer as registered: every store is a dependent; some can be primary. */
export interface StoreProvider<S extends z.ZodType = z.ZodType> {
  type: string;
  spec: S;
  /** What it can hold of a material (checked when a policy is validated). */
  holds: Holds;
  dependent: Dependent<z.infer<S>>;
  /** Present when it can be a primary store; then it says how it gets a material's id back. */
  primary?: PrimaryStore<z.infer<S>> & { idOnRead: IdOnRead };
}

/** Keeps the spec type of its argument, so a provider's methods are checked against its own schema. */
export function defineCredential<S extends z.ZodType>(def: CredentialProvider<S>): CredentialProvider<S> {
  return def;
}

export function defineStore<S extends z.ZodType>(def: StoreProvider<S>): StoreProvider<S> {
  return def;
}
