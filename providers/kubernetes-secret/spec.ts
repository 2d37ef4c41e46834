import { z } from 'zod';
import { PositiveDurationSchema } from '../../config/duration.js';
import { SecretRefSchema } from '../../config/secret-ref.js';

/** Suffix of the sibling Secret that keeps the value a write replaced, for restore. */
export const PREVIOUS_SUFFIX = '-rotor-previous';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** How Rotor reaches the API server: a kubeconfig (by reference), or the pod's own service account. */
const KubeconfigAuth = z.strictObject({
  /** The kubeconfig's content, as a secret reference (`file:/etc/rotor/kubeconfig`, `env:KUBECONFIG_YAML`). */
  kubeconfig: SecretRefSchema,
  /** A context of the kubeconfig; its current-context when absent. */
  context: z.string().min(1).max(253).optional(),
});
const InClusterAuth = z.strictObject({
  inCluster: z.literal(true),
  /** Where the service account's token and ca.crt are mounted (a projected volume may put them elsewhere). */
  serviceAccountPath: z.string().startsWith('/').default('/var/run/secrets/kubernetes.io/serviceaccount'),
});

export const KubernetesSecretSpecSchema = z.strictObject({
  auth: z.union([KubeconfigAuth, InClusterAuth]),
  namespace: z.string().max(63).regex(DNS_LABEL, { message: 'must be a namespace name (a DNS label)' }),
  secretName: z
    .string()
    .max(253 - PREVIOUS_SUFFIX.length)
    .regex(DNS_SUBDOMAIN, { message: 'must be a Secret name (a lowercase DNS subdomain)' })
    .refine((name) => !name.endsWith(PREVIOUS_SUFFIX), { message: `must not end with ${PREVIOUS_SUFFIX} (Rotor's sibling Secret)` }),
  /** The key of the Secret written; Kubernetes allows letters, digits, `-`, `_` and `.`. */
  key: z.string().max(253).regex(/^[-._a-zA-Z0-9]+$/, { message: "must be a Secret key: letters, digits, '-', '_' or '.'" }),
  /** The material field written; may be left out only when the material has exactly one field. */
  field: z.string().min(1).optional(),
  /**
   * Take the key over from another server-side applier (apply `force`). Without it such a conflict
   * refuses; a key only written imperatively (`kubectl create`, an Update) is taken over either way.
   */
  forceConflicts: z.boolean().default(false),
  /**
   * Restart the Deployments and StatefulSets that use the Secret (as `kubectl rollout restart` does) and
   * count their rollouts' readiness as the dependent's check. `workloads: mounting` finds them in the
   * namespace (volumes, env, envFrom, projected volumes); or name them.
   */
  restart: z
    .strictObject({
      workloads: z.union([
        z.literal('mounting'),
        z.array(z.strictObject({ kind: z.enum(['Deployment', 'StatefulSet']), name: z.string().max(253).regex(DNS_SUBDOMAIN) })).min(1).max(50),
      ]),
      /** How long after the restart the rollouts may take to become ready; then the check fails and the rotation rolls back. */
      timeout: PositiveDurationSchema.default('5m'),
    })
    .optional(),
});

export type KubernetesSecretSpec = z.infer<typeof KubernetesSecretSpecSchema>;
