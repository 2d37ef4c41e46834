/**
 * The slice of the Kubernetes API the kubernetes-secret dependent uses, over @kubernetes/client-node's
 * generic object API: read, server-side apply and delete a Secret; list, read and patch Deployments and
 * StatefulSets. Errors are rebuilt from the API's Status (code, reason, message, conflict fields),
 * never from the request, which carries the Secret's data.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';

type KubernetesSdk = typeof import('@kubernetes/client-node');
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import type { KubernetesSecretSpec } from './spec.js';

export const FIELD_MANAGER = 'rotor';

export interface SecretObject extends KubernetesObject {
  type?: string;
  data?: Record<string, string>;
}

export interface PodTemplate {
  metadata?: { annotations?: Record<string, string> };
  spec?: {
    volumes?: Array<{ secret?: { secretName?: string }; projected?: { sources?: Array<{ secret?: { name?: string } }> } }>;
    containers?: Container[];
    initContainers?: Container[];
  };
}
interface Container {
  env?: Array<{ valueFrom?: { secretKeyRef?: { name?: string } } }>;
  envFrom?: Array<{ secretRef?: { name?: string } }>;
}

export interface Workload extends KubernetesObject {
  kind: 'Deployment' | 'StatefulSet';
  spec?: { replicas?: number; template?: PodTemplate };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    currentRevision?: string;
    updateRevision?: string;
  };
}

/** A refusal or failure of the API, with its HTTP code (404 is often "not there"). */
export class KubernetesError extends Error {
  override readonly name = 'KubernetesError';
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
  }
}

/** A non-retryable API refusal (401, 403, 422, a field-manager conflict). */
export class KubernetesRefusal extends ProviderRefusal {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

/** `kind/namespace/name` for errors and logs. */
export const where = (kind: string, namespace: string, name: string) => `${kind} ${namespace}/${name}`;

export class Kube {
  private constructor(
    private readonly ctx: ProviderContext,
    private readonly sdk: KubernetesSdk,
    private readonly api: KubernetesObjectApi,
    readonly namespace: string,
  ) {}

  static async connect(ctx: ProviderContext, spec: KubernetesSecretSpec): Promise<Kube> {
    ctx.signal?.throwIfAborted();
    // Loaded on first use, as every provider's SDK is (eslint.config.js says why).
    const sdk = await import('@kubernetes/client-node');
    const kc = new sdk.KubeConfig();
    if ('inCluster' in spec.auth) {
      const host = process.env.KUBERNETES_SERVICE_HOST;
      const port = process.env.KUBERNETES_SERVICE_PORT;
      if (!host || !port) throw new ProviderRefusal('in-cluster auth needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, which Kubernetes sets in every pod');
      const dir = spec.auth.serviceAccountPath;
      // The token file is read on each request: bound service-account tokens are rotated by the kubelet.
      kc.loadFromClusterAndUser(
        { name: 'in-cluster', server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`, caFile: join(dir, 'ca.crt'), skipTLSVerify: false },
        { name: 'service-account', authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } },
      );
      await readFile(join(dir, 'token')).catch(() => {
        throw new ProviderRefusal(`in-cluster auth: no service account token at ${join(dir, 'token')}`);
      });
    } else {
      try {
        kc.loadFromString(await ctx.resolveSecret(spec.auth.kubeconfig));
      } catch (error) {
        if (error instanceof ProviderRefusal) throw error;
        // The kubeconfig holds a credential: say only that it did not parse.
        throw new ProviderRefusal(`the kubeconfig from ${spec.auth.kubeconfig} is not a valid kubeconfig`);
      }
      if (spec.auth.context) {
        if (!kc.getContextObject(spec.auth.context)) throw new ProviderRefusal(`the kubeconfig from ${spec.auth.kubeconfig} has no context "${spec.auth.context}"`);
        kc.setCurrentContext(spec.auth.context);
      }
      if (!kc.getCurrentCluster()) throw new ProviderRefusal(`the kubeconfig from ${spec.auth.kubeconfig} names no cluster for its current context`);
    }
    return new Kube(ctx, sdk, sdk.KubernetesObjectApi.makeApiClient(kc), spec.namespace);
  }

  /** The Secret, or null when it does not exist. */
  async readSecret(name: string): Promise<SecretObject | null> {
    return this.optional(where('Secret', this.namespace, name), 'read', () =>
      this.api.read<SecretObject>({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: this.namespace } }),
    );
  }

  /**
   * Server-side apply of the fields Rotor manages on a Secret, as field manager `rotor`. With
   * `resourceVersion` the apply fails (409) if the Secret changed since it was read; `dryRun` checks
   * everything (access, conflicts, validation) and changes nothing.
   */
  async applySecret(
    name: string,
    fields: { data: Record<string, string>; annotations: Record<string, string>; resourceVersion?: string },
    force: boolean,
    dryRun = false,
  ): Promise<SecretObject> {
    const body: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: this.namespace, annotations: fields.annotations, ...(fields.resourceVersion ? { resourceVersion: fields.resourceVersion } : {}) },
      // An empty map is left out: the keys Rotor no longer applies are then removed by the API server.
      ...(Object.keys(fields.data).length ? { data: fields.data } : {}),
    };
    return this.call(where('Secret', this.namespace, name), 'apply', () =>
      this.api.patch(body, undefined, dryRun ? 'All' : undefined, FIELD_MANAGER, force, this.sdk.PatchStrategy.ServerSideApply),
    );
  }

  /** Deletes a Secret; one that is gone already is a success. */
  async deleteSecret(name: string): Promise<void> {
    await this.optional(where('Secret', this.namespace, name), 'delete', () =>
      this.api.delete({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: this.namespace } }),
    );
  }

  async listWorkloads(kind: 'Deployment' | 'StatefulSet'): Promise<Workload[]> {
    const list = await this.call(`${kind}s in namespace ${this.namespace}`, 'list', () => this.api.list<Workload>('apps/v1', kind, this.namespace));
    return list.items.map((item) => ({ ...item, kind }));
  }

  async readWorkload(kind: 'Deployment' | 'StatefulSet', name: string): Promise<Workload | null> {
    const found = await this.optional(where(kind, this.namespace, name), 'read', () => this.api.read<Workload>({ apiVersion: 'apps/v1', kind, metadata: { name, namespace: this.namespace } }));
    return found && { ...found, kind };
  }

  /** The annotations `kubectl rollout restart` sets, as the same strategic merge patch. */
  async annotatePodTemplate(kind: 'Deployment' | 'StatefulSet', name: string, annotations: Record<string, string>): Promise<void> {
    const patch = { apiVersion: 'apps/v1', kind, metadata: { name, namespace: this.namespace }, spec: { template: { metadata: { annotations } } } };
    await this.call(where(kind, this.namespace, name), 'restart', () => this.api.patch(patch, undefined, undefined, FIELD_MANAGER, undefined, this.sdk.PatchStrategy.StrategicMergePatch));
  }

  private async optional<T>(what: string, action: string, request: () => Promise<T>): Promise<T | null> {
    try {
      return await this.call(what, action, request);
    } catch (error) {
      if ((error instanceof KubernetesRefusal || error instanceof KubernetesError) && error.code === 404) return null;
      throw error;
    }
  }

  private async call<T>(what: string, action: string, request: () => Promise<T>): Promise<T> {
    this.ctx.signal?.throwIfAborted();
    try {
      return await request();
    } catch (error) {
      throw kubernetesFailure(`cannot ${action} ${what}`, error, this.sdk.ApiException);
    }
  }
}

interface Status {
  reason?: string;
  message?: string;
  details?: { causes?: Array<{ type?: string; field?: string; message?: string }> };
}

/** A clean error from the API's Status: 401/403/422 and apply conflicts refuse; 409 resourceVersion conflicts, 429 and 5xx are retryable. */
export function kubernetesFailure(action: string, error: unknown, ApiException: KubernetesSdk['ApiException']): Error {
  if (!(error instanceof ApiException)) {
    const name = error instanceof Error ? error.name : '';
    return new KubernetesError(`${action}: ${name === 'AbortError' ? 'timed out or was cancelled' : 'the API server could not be reached'}`, undefined);
  }
  const code = error.code;
  const status = parseStatus(error.body);
  const reason = status.reason ? ` ${status.reason}` : '';
  const message = (status.message ?? '').slice(0, 400);
  const text = `${action}: HTTP ${code}${reason}${message ? ` (${message})` : ''}`;
  const fieldConflict = code === 409 && (status.details?.causes ?? []).some((c) => c.type === 'FieldManagerConflict');
  if (fieldConflict) return new KubernetesRefusal(`${text}; set forceConflicts: true to take the key over from that field manager`, code);
  if (code === 401 || code === 403 || code === 400 || code === 404 || code === 415 || code === 422) return new KubernetesRefusal(text, code);
  return new KubernetesError(text, code);
}

function parseStatus(body: unknown): Status {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as Status;
    } catch {
      return {};
    }
  }
  return body && typeof body === 'object' ? (body as Status) : {};
}
