/**
 * The step runner every rotation activity goes through: it opens what a step needs (the policy,
 * its providers, a provider context), records the step in the run's steps and the audit log, marks
 * refusals as non-retryable, and scrubs any secret value the step handled out of the error it throws.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ApplicationFailureCategory } from '@temporalio/common';
import type { Policy } from '../config/policy.js';
import { fingerprintValue, type Material } from '../lib/material.js';
import type { Logger } from '../lib/logger.js';
import { materialSecrets, redactSecrets } from '../lib/redact.js';
import { activityCancellation } from './heartbeat.js';
import { ProviderRefusal, type CredentialSource, type Dependent, type PrimaryStore, type ProviderContext } from '../providers/contracts.js';
import type { ProviderRegistry } from '../providers/registry.js';
import type { RotorStore } from '../store/index.js';

/** Rotation counters and durations (daemon/metrics.ts implements it for Prometheus). */
export interface RotationMetrics {
  recordRotation(type: string, outcome: string, seconds: number): void;
}

export interface ActivityDeps {
  store: RotorStore;
  /** The policy in force for a credential id (policies can be reloaded while the worker runs). */
  policy(credentialId: string): Policy | undefined;
  providers: ProviderRegistry;
  logger: Logger;
  resolveSecret(ref: string): Promise<string>;
  /** Rotation counters and durations, when the process exports metrics. */
  metrics?: RotationMetrics;
}

/** Which run a step belongs to: every activity of a rotation takes it. */
export interface Ref {
  credentialId: string;
  rotationId: string;
}

/** The policy in force for `credentialId`; a credential without one is refused for good. */
export function policyOf(deps: Pick<ActivityDeps, 'policy'>, credentialId: string): Policy {
  const policy = deps.policy(credentialId);
  if (!policy) throw ApplicationFailure.nonRetryable(`no policy for credential ${credentialId}`, 'UnknownCredential');
  return policy;
}

/** Everything one step needs: the policy, its providers, a provider context, and the materials it read. */
export class StepContext {
  readonly policy: Policy;
  readonly ctx: ProviderContext;
  readonly source: CredentialSource<unknown>;
  readonly primary: PrimaryStore<unknown>;
  readonly spec: unknown;
  readonly storeSpec: unknown;
  /** Every material this step handled, so errors can be scrubbed of it. */
  readonly seen: Material[] = [];

  constructor(
    private readonly deps: ActivityDeps,
    private readonly ref: Ref,
  ) {
    this.policy = policyOf(deps, ref.credentialId);
    const credential = deps.providers.credential(this.policy.credential.type);
    const primaryStore = deps.providers.store(this.policy.store.type);
    if (!credential || !primaryStore?.primary) {
      throw ApplicationFailure.nonRetryable(`providers for ${ref.credentialId} are not registered`, 'UnknownProvider');
    }
    this.source = credential.source;
    this.primary = primaryStore.primary;
    this.spec = this.policy.credential.spec;
    this.storeSpec = this.policy.store.spec;
    this.ctx = {
      rotationId: ref.rotationId,
      credentialId: ref.credentialId,
      logger: deps.logger.child({ credentialId: ref.credentialId, rotationId: ref.rotationId }),
      resolveSecret: deps.resolveSecret,
      signal: activityCancellation(),
      material: credential.produces,
    };
  }

  /** Reads material from the primary store and remembers it, so errors can be scrubbed of it. */
  async read(stage: 'pending' | 'current' | 'previous'): Promise<Material | null> {
    const material = await this.primary.read(this.ctx, this.storeSpec, stage);
    if (material) this.seen.push(material);
    return material;
  }

  async requirePending(): Promise<Material> {
    const material = await this.read('pending');
    if (!material) throw ApplicationFailure.nonRetryable(`no pending material staged by rotation ${this.ref.rotationId}`, 'NoPendingMaterial');
    return material;
  }

  /** A dependent of the policy, by name, with its provider. */
  dependent(name: string): { spec: unknown; impl: Dependent<unknown> } {
    const d = this.policy.dependents.find((x) => x.name === name);
    const provider = d && this.deps.providers.store(d.type);
    if (!d || !provider) throw ApplicationFailure.nonRetryable(`no dependent ${name} in policy ${this.ref.credentialId}`, 'UnknownDependent');
    return { spec: d.spec, impl: provider.dependent };
  }
}

/** Runs one protocol step named `name` (its audit event) through the step runner. */
export type RunStep = <T>(ref: Ref, name: string, run: (s: StepContext) => Promise<T>, detail?: (result: T) => Record<string, unknown>) => Promise<T>;

export function stepRunner(deps: ActivityDeps): RunStep {
  const { store } = deps;
  return async (ref, name, run, detail) => {
    const s = new StepContext(deps, ref);
    await store.recordStep(ref.rotationId, name, 'started');
    try {
      const result = await run(s);
      const extra = detail ? detail(result) : {};
      await store.recordStep(ref.rotationId, name, 'succeeded', Object.keys(extra).length ? JSON.stringify(extra) : undefined, {
        credentialId: ref.credentialId,
        rotationId: ref.rotationId,
        actor: 'rotor',
        event: name,
        detail: extra,
      });
      return result;
    } catch (error) {
      const message = scrub(error instanceof Error ? error.message : String(error), s.seen);
      s.ctx.logger.warn({ step: name, error: message }, 'rotation step failed');
      await store.recordStep(ref.rotationId, name, 'failed', message);
      throw asFailure(error, message);
    }
  };
}

/**
 * The failure Temporal sees. A refusal is expected (nothing changed, the message says why): benign
 * and non-retryable, so the worker logs it as one debug line instead of a warning with a stack trace.
 */
function asFailure(error: unknown, message: string): ApplicationFailure {
  if (error instanceof ApplicationFailure) return error;
  const type = error instanceof Error ? error.name : 'Error';
  return error instanceof ProviderRefusal
    ? ApplicationFailure.create({ message, type, nonRetryable: true, category: ApplicationFailureCategory.BENIGN })
    : ApplicationFailure.retryable(message, type);
}

/** The material in the primary store must be exactly the old material the workflow names. */
export async function expectOld(material: Material | null, expectedId: string): Promise<Material> {
  if (!material) throw new ProviderRefusal(`old material ${expectedId} is no longer in the primary store`);
  if (material.id !== expectedId) throw new ProviderRefusal(`old material is ${material.id}, expected ${expectedId}: refusing to touch it`);
  return material;
}

/** Replaces every secret value of the given materials in a message: defence in depth for error text. */
export function scrub(message: string, materials: Material[]): string {
  return redactSecrets(message, materialSecrets(materials));
}

/** SHA-256 of each field but the public id, the form a leaked value is matched in. */
export function fieldFingerprints(material: Material): Record<string, string> {
  const all = material.revealAll();
  return Object.fromEntries(
    Object.entries(all)
      .filter(([, value]) => value !== material.id)
      .map(([field, value]) => [field, fingerprintValue(value)]),
  );
}

