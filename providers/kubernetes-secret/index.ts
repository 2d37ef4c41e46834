/**
 * One key of a Kubernetes Secret, as a dependent (Kubernetes keeps no history of a Secret, so it
 * cannot be a primary store).
 *
 * write: reads the Secret, keeps the value it replaces in a sibling Secret `<name>-rotor-previous`
 * (same namespace, so the same access control), then server-side applies the key and Rotor's
 * annotations (rotation id, fingerprint: never a value) as field manager `rotor`, with the
 * resourceVersion it read as a precondition: a concurrent writer makes it fail (409) and retry. With
 * `restart`, the workloads that use the Secret get the pod-template annotation `kubectl rollout
 * restart` sets, once per rotation. The receipt is the resourceVersion written and the one replaced.
 *
 * check: the key holds this material, and every restarted workload's rollout is ready; a rollout not
 * ready within `restart.timeout` of its restart fails the check for good (the rotation rolls back).
 * restore: the kept value goes back (and the workloads restart again); a key this rotation created is
 * removed, a Secret it created deleted.
 */
import { fingerprintValue, type Material } from '../../lib/material.js';
import { durationMs } from '../../config/duration.js';
import { defineStore, ProviderRefusal, type Dependent, type ProviderContext, type Receipt } from '../contracts.js';
import { Kube, where, type PodTemplate, type SecretObject, type Workload } from './kube.js';
import { KubernetesSecretSpecSchema, PREVIOUS_SUFFIX, type KubernetesSecretSpec } from './spec.js';

export { KubernetesSecretSpecSchema, type KubernetesSecretSpec } from './spec.js';

/** Rotor's annotations; fingerprints and ids only. */
export const ANNOTATIONS = {
  rotation: 'rotor.dev/rotation',
  fingerprint: 'rotor.dev/fingerprint',
  /** On a Secret this rotation created: restore deletes it. */
  createdBy: 'rotor.dev/created-by-rotation',
  /** On the pod template: the rotation (and phase) that restarted it, so a retry restarts no twice. */
  restartedFor: 'rotor.dev/restarted-for',
  restartedAt: 'kubectl.kubernetes.io/restartedAt',
} as const;

const PREVIOUS_KEY = 'value';
/** Kubernetes refuses Secrets over 1 MiB. */
const MAX_VALUE_BYTES = 1024 * 1024;
/** How long one check attempt waits for rollouts before it fails and the activity retries. */
const CHECK_ATTEMPT_MS = 60_000;

/** The value of the field this spec writes: `field`, or the material's only field. */
function valueOf(spec: KubernetesSecretSpec, material: Material): string {
  const fields = material.fieldNames();
  const name = spec.field ?? (fields.length === 1 ? fields[0]! : undefined);
  if (name === undefined) {
    throw new ProviderRefusal(`material ${material.id} has ${fields.length} fields (${fields.join(', ')}): set "field" to choose the one to write to key ${spec.key}`);
  }
  if (!material.has(name)) throw new ProviderRefusal(`material ${material.id} has no field "${name}" (it has ${fields.join(', ') || 'none'})`);
  const value = material.reveal(name);
  if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) throw new ProviderRefusal(`material ${material.id} is larger than a Secret may be (1 MiB)`);
  return value;
}

const encode = (value: string) => Buffer.from(value, 'utf8').toString('base64');
const decode = (data: string | undefined) => (data === undefined ? undefined : Buffer.from(data, 'base64').toString('utf8'));
const annotationsOf = (o: { metadata?: { annotations?: Record<string, string> } } | null) => o?.metadata?.annotations ?? {};

async function write(ctx: ProviderContext, spec: KubernetesSecretSpec, material: Material): Promise<Receipt> {
  const value = valueOf(spec, material);
  const fingerprint = fingerprintValue(value);
  const kube = await Kube.connect(ctx, spec);
  const secretWhere = where('Secret', spec.namespace, spec.secretName);
  const before = await kube.readSecret(spec.secretName);
  const mine = annotationsOf(before);
  let receipt: Receipt;
  if (before && mine[ANNOTATIONS.rotation] === ctx.rotationId && mine[ANNOTATIONS.fingerprint] === fingerprint && decode(before.data?.[spec.key]) === value) {
    // An earlier attempt wrote it: its receipt is in the sibling (or there was nothing before).
    const kept = await kube.readSecret(previousName(spec));
    const previousVersion = annotationsOf(kept)[ANNOTATIONS.rotation] === ctx.rotationId ? (annotationsOf(kept)['rotor.dev/replaced-resource-version'] ?? null) : null;
    receipt = { version: before.metadata!.resourceVersion!, previousVersion };
  } else {
    const previousValue = before?.data?.[spec.key];
    const annotations: Record<string, string> = { [ANNOTATIONS.rotation]: ctx.rotationId, [ANNOTATIONS.fingerprint]: fingerprint };
    if (!before) annotations[ANNOTATIONS.createdBy] = ctx.rotationId;
    else if (mine[ANNOTATIONS.createdBy]) annotations[ANNOTATIONS.createdBy] = mine[ANNOTATIONS.createdBy]; // still Rotor's to keep owning
    const fields = { data: { [spec.key]: encode(value) }, annotations, ...(before ? { resourceVersion: before.metadata!.resourceVersion! } : {}) };
    const force = spec.forceConflicts || takesOverFromImperativeWriters(before, spec.key);
    // A dry run first: a refusal (another field manager, access, validation) then changes nothing at all.
    await kube.applySecret(spec.secretName, fields, force, true);
    if (previousValue !== undefined) {
      await kube.applySecret(
        previousName(spec),
        { data: { [PREVIOUS_KEY]: previousValue }, annotations: { [ANNOTATIONS.rotation]: ctx.rotationId, 'rotor.dev/replaced-resource-version': before!.metadata!.resourceVersion! } },
        true,
      );
    }
    const written = await kube.applySecret(spec.secretName, fields, force);
    receipt = { version: written.metadata!.resourceVersion!, previousVersion: previousValue === undefined ? null : before!.metadata!.resourceVersion! };
    ctx.logger.info({ target: secretWhere, key: spec.key, material: material.id, ...receipt }, 'kubernetes secret key written');
  }
  await restartWorkloads(ctx, kube, spec, ctx.rotationId);
  return receipt;
}

const previousName = (spec: KubernetesSecretSpec) => `${spec.secretName}${PREVIOUS_SUFFIX}`;

/**
 * Whether the key's other owners only wrote it imperatively (`kubectl create`/`edit`, an Update): they
 * do not re-apply, so Rotor takes the key over. Another applier (GitOps, an operator using
 * server-side apply) would fight back on its next apply: that conflict refuses unless forceConflicts.
 */
function takesOverFromImperativeWriters(secret: SecretObject | null, key: string): boolean {
  const owners = (secret?.metadata?.managedFields ?? []).filter((f) => f.manager !== 'rotor' && (f.fieldsV1 as Record<string, Record<string, unknown>> | undefined)?.['f:data']?.[`f:${key}`] !== undefined);
  return owners.every((f) => f.operation === 'Update');
}

/** Whether a pod template uses the Secret (volume, projected volume, env, envFrom). */
function uses(template: PodTemplate | undefined, secretName: string): boolean {
  const spec = template?.spec;
  if (!spec) return false;
  if ((spec.volumes ?? []).some((v) => v.secret?.secretName === secretName || (v.projected?.sources ?? []).some((s) => s.secret?.name === secretName))) return true;
  return [...(spec.containers ?? []), ...(spec.initContainers ?? [])].some(
    (c) => (c.env ?? []).some((e) => e.valueFrom?.secretKeyRef?.name === secretName) || (c.envFrom ?? []).some((e) => e.secretRef?.name === secretName),
  );
}

/** The workloads the spec restarts: named, or found because they use the Secret. */
async function workloads(kube: Kube, spec: KubernetesSecretSpec): Promise<Workload[]> {
  const restart = spec.restart;
  if (!restart) return [];
  if (restart.workloads === 'mounting') {
    const all = [...(await kube.listWorkloads('Deployment')), ...(await kube.listWorkloads('StatefulSet'))];
    return all.filter((w) => uses(w.spec?.template, spec.secretName));
  }
  const found: Workload[] = [];
  for (const { kind, name } of restart.workloads) {
    const workload = await kube.readWorkload(kind, name);
    if (!workload) throw new ProviderRefusal(`cannot restart ${where(kind, spec.namespace, name)}: it does not exist`);
    found.push(workload);
  }
  return found;
}

/** `kubectl rollout restart` of each workload, unless it was restarted for `marker` already. */
async function restartWorkloads(ctx: ProviderContext, kube: Kube, spec: KubernetesSecretSpec, marker: string): Promise<void> {
  for (const w of await workloads(kube, spec)) {
    const name = w.metadata!.name!;
    if (annotationsOf(w.spec?.template ?? null)[ANNOTATIONS.restartedFor] === marker) continue;
    await kube.annotatePodTemplate(w.kind, name, { [ANNOTATIONS.restartedAt]: new Date().toISOString(), [ANNOTATIONS.restartedFor]: marker });
    ctx.logger.info({ target: where(w.kind, spec.namespace, name), for: marker }, 'kubernetes workload restarted');
  }
}

/** Why a rollout is not done yet (kubectl rollout status's rules), or null when it is. */
function notReady(w: Workload): string | null {
  const generation = w.metadata?.generation ?? 0;
  const s = w.status ?? {};
  const want = w.spec?.replicas ?? 1;
  if ((s.observedGeneration ?? 0) < generation) return 'the controller has not seen the restart yet';
  if ((s.updatedReplicas ?? 0) < want) return `${s.updatedReplicas ?? 0} of ${want} replicas updated`;
  if (w.kind === 'Deployment') {
    if ((s.replicas ?? 0) > (s.updatedReplicas ?? 0)) return `${(s.replicas ?? 0) - (s.updatedReplicas ?? 0)} old replicas pending termination`;
    if ((s.availableReplicas ?? 0) < (s.updatedReplicas ?? 0)) return `${s.availableReplicas ?? 0} of ${s.updatedReplicas ?? 0} updated replicas available`;
    return null;
  }
  if ((s.readyReplicas ?? 0) < want) return `${s.readyReplicas ?? 0} of ${want} replicas ready`;
  if (s.updateRevision && s.currentRevision !== s.updateRevision) return `revision ${s.updateRevision} not rolled out to every pod`;
  return null;
}

async function check(ctx: ProviderContext, spec: KubernetesSecretSpec, material: Material): Promise<void> {
  const value = valueOf(spec, material);
  const kube = await Kube.connect(ctx, spec);
  const secret = await kube.readSecret(spec.secretName);
  const secretWhere = where('Secret', spec.namespace, spec.secretName);
  if (!secret) throw new Error(`${secretWhere} does not exist; expected material ${material.id} in key ${spec.key}`);
  if (decode(secret.data?.[spec.key]) !== value) {
    throw new Error(`${secretWhere} key ${spec.key} does not hold material ${material.id} (Rotor last wrote it in rotation ${annotationsOf(secret)[ANNOTATIONS.rotation] ?? 'none'})`);
  }
  if (!spec.restart) return;
  const timeoutMs = durationMs(spec.restart.timeout);
  const attemptEnds = Date.now() + CHECK_ATTEMPT_MS;
  for (;;) {
    const waiting: string[] = [];
    for (const w of await workloads(kube, spec)) {
      const name = where(w.kind, spec.namespace, w.metadata!.name!);
      const template = annotationsOf(w.spec?.template ?? null);
      if (template[ANNOTATIONS.restartedFor] !== ctx.rotationId) throw new Error(`${name} was not restarted for rotation ${ctx.rotationId}`);
      const why = notReady(w);
      if (!why) continue;
      const since = Date.parse(template[ANNOTATIONS.restartedAt] ?? '');
      if (Number.isFinite(since) && Date.now() - since > timeoutMs) {
        throw new ProviderRefusal(`rollout of ${name} is not ready ${spec.restart.timeout} after its restart: ${why}`);
      }
      waiting.push(`${name}: ${why}`);
    }
    if (!waiting.length) return;
    if (Date.now() > attemptEnds) throw new Error(`waiting for rollouts after the restart: ${waiting.join('; ')}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
    ctx.signal?.throwIfAborted();
  }
}

async function restore(ctx: ProviderContext, spec: KubernetesSecretSpec, receipt: Receipt): Promise<void> {
  const kube = await Kube.connect(ctx, spec);
  const secretWhere = where('Secret', spec.namespace, spec.secretName);
  const secret = await kube.readSecret(spec.secretName);
  if (!secret) return; // gone: nothing of this rotation left to undo
  const mine = annotationsOf(secret);
  const restoredMarker = `${ctx.rotationId}/restore`;
  if (mine[ANNOTATIONS.rotation] !== ctx.rotationId) {
    throw new ProviderRefusal(`not restoring ${secretWhere}: rotation ${mine[ANNOTATIONS.rotation] ?? 'none'} of Rotor or another writer changed it after rotation ${ctx.rotationId}`);
  }
  if (receipt.previousVersion === null) {
    if (mine[ANNOTATIONS.createdBy] === ctx.rotationId) {
      await kube.deleteSecret(spec.secretName);
      ctx.logger.info({ target: secretWhere }, 'kubernetes secret created by this rotation deleted');
    } else if (secret.data?.[spec.key] !== undefined) {
      // Applying without the key drops Rotor's ownership of it, so the API server removes it.
      await kube.applySecret(spec.secretName, { data: {}, annotations: { [ANNOTATIONS.rotation]: ctx.rotationId } }, false);
      ctx.logger.info({ target: secretWhere, key: spec.key }, 'kubernetes secret key created by this rotation removed');
    }
    await restartWorkloads(ctx, kube, spec, restoredMarker);
    return;
  }
  const kept = await kube.readSecret(previousName(spec));
  const keptValue = kept?.data?.[PREVIOUS_KEY];
  if (annotationsOf(kept)[ANNOTATIONS.rotation] !== ctx.rotationId || keptValue === undefined) {
    throw new ProviderRefusal(`cannot restore ${secretWhere}: the value it held before rotation ${ctx.rotationId} is not in ${previousName(spec)}`);
  }
  const restoredFingerprint = fingerprintValue(decode(keptValue)!);
  if (secret.data?.[spec.key] !== keptValue) {
    if (mine[ANNOTATIONS.fingerprint] !== fingerprintValue(decode(secret.data?.[spec.key]) ?? '')) {
      throw new ProviderRefusal(`not restoring ${secretWhere}: key ${spec.key} changed since rotation ${ctx.rotationId} wrote it`);
    }
    await kube.applySecret(
      spec.secretName,
      { data: { [spec.key]: keptValue }, annotations: { [ANNOTATIONS.rotation]: ctx.rotationId, [ANNOTATIONS.fingerprint]: restoredFingerprint }, resourceVersion: secret.metadata!.resourceVersion! },
      spec.forceConflicts || takesOverFromImperativeWriters(secret, spec.key),
    );
    ctx.logger.info({ target: secretWhere, key: spec.key, from: receipt.version }, 'kubernetes secret key restored to the value before the rotation');
  }
  await restartWorkloads(ctx, kube, spec, restoredMarker);
}

/** Reads the Secret (and lists the workloads to restart): Rotor's identity can reach what it needs. */
async function preflight(ctx: ProviderContext, spec: KubernetesSecretSpec): Promise<string[]> {
  try {
    const kube = await Kube.connect(ctx, spec);
    await kube.readSecret(spec.secretName);
    await kube.readSecret(previousName(spec));
    await workloads(kube, spec);
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

/** Decommission: the key Rotor wrote goes (the whole Secret if Rotor created it), and the kept previous value. */
async function remove(ctx: ProviderContext, spec: KubernetesSecretSpec): Promise<void> {
  const kube = await Kube.connect(ctx, spec);
  const secret = await kube.readSecret(spec.secretName);
  if (secret && annotationsOf(secret)[ANNOTATIONS.createdBy]) await kube.deleteSecret(spec.secretName);
  else if (secret?.data?.[spec.key] !== undefined) await kube.applySecret(spec.secretName, { data: {}, annotations: {} }, false);
  await kube.deleteSecret(previousName(spec));
}

const dependent: Dependent<KubernetesSecretSpec> = { write, check, restore, preflight, remove };

export const kubernetesSecret = defineStore({
  type: 'kubernetes-secret',
  spec: KubernetesSecretSpecSchema,
  holds: 'one-field',
  dependent,
});
