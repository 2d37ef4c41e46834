/**
 * The Kubernetes chart (deploy/helm/rotor) as `helm lint` and `helm template` see it: the objects it
 * renders, the daemon's security context, probes and mounts, secrets only by reference, the
 * ServiceMonitor only when asked for, and values outside the schema (a password, say) refused.
 * Helm is the real one, built by the set-up step (`node scripts/setup-tools.mjs helm`).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments, stringify } from 'yaml';
import { loadPolicyDirectory } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import { toolPath } from '../harness/tools.js';

const CHART = fileURLToPath(new URL('../../deploy/helm/rotor', import.meta.url));
const DOCS_POLICIES = fileURLToPath(new URL('../../docs/policies', import.meta.url));
const run = promisify(execFile);
// Helm built from source defaults to Kubernetes 1.20; the chart asks for 1.25+.
const KUBE_VERSION = ['--kube-version', '1.31.0'];

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  data?: Record<string, string>;
}

let helm: string;
let dir: string;

beforeAll(async () => {
  helm = toolPath('helm');
  dir = await mkdtemp(join(tmpdir(), 'rotor-chart-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `helm template` with these values; the rendered text and its objects. */
async function render(values: Record<string, unknown> = {}, args: string[] = []): Promise<{ text: string; objects: K8sObject[] }> {
  const file = join(dir, `values-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, stringify(values));
  const { stdout } = await run(helm, ['template', 'prod', CHART, '--namespace', 'rotor', ...KUBE_VERSION, '-f', file, ...args]);
  const objects = parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject).filter(Boolean);
  return { text: stdout, objects };
}

function only(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
}

/** Everything on that the chart can reference: TLS with a client certificate, API key, Vault, webhook, file refs. */
const everything = {
  temporal: {
    address: 'rotor.a1b2c.tmprl.cloud:7233',
    namespace: 'rotor.a1b2c',
    tls: { enabled: true, serverName: 'rotor.a1b2c.tmprl.cloud', clientCertSecret: 'rotor-temporal-client', serverCASecret: 'rotor-temporal-ca' },
    apiKey: { secretName: 'rotor-temporal-api-key', key: 'api-key' },
  },
  database: { caSecret: 'rotor-database-ca' },
  vault: { address: 'https://vault.vault.svc:8200', tokenSecret: 'rotor-vault-token' },
  githubWebhook: { secretName: 'rotor-github-webhook' },
  secretMounts: [{ name: 'payments-db-admin', secretName: 'payments-db-admin' }],
  serviceMonitor: { enabled: true, labels: { release: 'prometheus' } },
  access: {
    configMap: 'rotor-access',
    rolesKey: 'roles.yaml',
    apiTokensKey: 'api-tokens.yaml',
    oidc: { issuer: 'https://idp.example.com', clientId: 'rotor', redirectUrl: 'https://rotor.example.com/ui/callback', clientSecret: { secretName: 'rotor-oidc', key: 'client-secret' } },
    sessionKey: { secretName: 'rotor-session', key: 'session-key' },
    temporalUiUrl: 'https://temporal.example.com',
  },
};

describe('helm chart', () => {
  it('passes helm lint --strict with its defaults and with everything on', async () => {
    await run(helm, ['lint', '--strict', CHART, ...KUBE_VERSION]);
    const file = join(dir, 'everything.yaml');
    await writeFile(file, stringify(everything));
    const { stdout } = await run(helm, ['lint', '--strict', CHART, ...KUBE_VERSION, '-f', file]);
    expect(stdout).toContain('0 chart(s) failed');
  });

  it('renders the daemon, its policies ConfigMap, Service, ServiceAccount and PDB; a ServiceMonitor only when enabled', async () => {
    const { objects } = await render();
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
    expect((await render({ replicaCount: 1 })).objects.map((o) => o.kind)).not.toContain('PodDisruptionBudget');

    const monitored = (await render({ serviceMonitor: { enabled: true, labels: { release: 'prometheus' } } })).objects;
    const monitor = only(monitored, 'ServiceMonitor');
    const service = only(monitored, 'Service');
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.labels?.release).toBe('prometheus');
    expect(monitor.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s' }]);
    // The monitor selects the Service, whose port it names.
    for (const [k, v] of Object.entries(monitor.spec.selector.matchLabels as Record<string, string>)) expect(service.metadata.labels?.[k]).toBe(v);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 8088, targetPort: 'http', protocol: 'TCP' }]);
  });

  it('runs the daemon non-root on a read-only root filesystem, with /tmp its only writable path', async () => {
    const deployment = only((await render()).objects, 'Deployment');
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.automountServiceAccountToken).toBe(false);
    const [container] = pod.containers;
    expect(pod.containers).toHaveLength(1);
    expect(container.args).toEqual(['daemon']);
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] } });
    const writable = container.volumeMounts.filter((m: { readOnly?: boolean }) => !m.readOnly);
    expect(writable).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(pod.volumes.find((v: { name: string }) => v.name === 'tmp')).toEqual({ name: 'tmp', emptyDir: { sizeLimit: '256Mi' } });
    expect(container.resources).toEqual({ requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1Gi' } });
  });

  it('probes /healthz for start-up and liveness and /readyz for readiness, on the port the daemon listens on', async () => {
    const [container] = only((await render()).objects, 'Deployment').spec.template.spec.containers;
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8088, protocol: 'TCP' }]);
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const env = envOf(container);
    expect(env.ROTOR_HTTP_PORT).toBe('8088');
    expect(env.ROTOR_HTTP_HOST).toBe('0.0.0.0');
  });

  it('gives the pod the drain grace plus margin before Kubernetes kills it', async () => {
    const pod = only((await render({ shutdownGraceSeconds: 45 })).objects, 'Deployment').spec.template.spec;
    expect(envOf(pod.containers[0]).ROTOR_SHUTDOWN_GRACE).toBe('45s');
    expect(pod.terminationGracePeriodSeconds).toBe(65);
  });

  it('mounts the policies ConfigMap as a directory (no subPath), and an existing ConfigMap instead when named', async () => {
    const { objects } = await render({ policies: { files: { 'billing.yaml': 'id: billing\n' } } });
    const configMap = only(objects, 'ConfigMap');
    expect(configMap.data).toEqual({ 'billing.yaml': 'id: billing\n' });
    const pod = only(objects, 'Deployment').spec.template.spec;
    expect(pod.volumes.find((v: { name: string }) => v.name === 'policies')).toEqual({ name: 'policies', configMap: { name: configMap.metadata.name } });
    const mount = pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === 'policies');
    expect(mount).toEqual({ name: 'policies', mountPath: '/etc/rotor/policies', readOnly: true });
    expect(envOf(pod.containers[0]).ROTOR_POLICIES).toBe('/etc/rotor/policies');

    const existing = (await render({ policies: { existingConfigMap: 'team-policies' } })).objects;
    expect(existing.map((o) => o.kind)).not.toContain('ConfigMap');
    const volume = only(existing, 'Deployment').spec.template.spec.volumes.find((v: { name: string }) => v.name === 'policies');
    expect(volume.configMap.name).toBe('team-policies');
  });

  it('carries policy files into the ConfigMap unchanged: the loader reads back the reference policies', async () => {
    const names = (await readdir(DOCS_POLICIES)).filter((f) => f.endsWith('.yaml'));
    expect(names.length).toBeGreaterThan(3);
    const args = names.flatMap((name) => ['--set-file', `policies.files.${name.replace(/\./g, '\\.')}=${join(DOCS_POLICIES, name)}`]);
    const configMap = only((await render({}, args)).objects, 'ConfigMap');
    const mounted = join(dir, 'mounted');
    await rm(mounted, { recursive: true, force: true });
    await mkdir(mounted);
    for (const [name, text] of Object.entries(configMap.data!)) {
      expect(text, name).toBe(await readFile(join(DOCS_POLICIES, name), 'utf8'));
      await writeFile(join(mounted, name), text);
    }
    const fromChart = await loadPolicyDirectory(mounted, registry.catalog);
    const fromDocs = await loadPolicyDirectory(DOCS_POLICIES, registry.catalog);
    expect(fromChart.policies.map((p) => p.id)).toEqual(fromDocs.policies.map((p) => p.id));
  });

  it('references every secret (TLS files, API key, database URL, tokens, policy file refs) and renders no secret value', async () => {
    const { objects, text } = await render(everything);
    expect(objects.map((o) => o.kind)).not.toContain('Secret');
    const pod = only(objects, 'Deployment').spec.template.spec;
    const container = pod.containers[0];
    const env = envOf(container);
    const secretMountOf = (path: string): string | undefined => {
      const mount = container.volumeMounts.find((m: { mountPath: string }) => path.startsWith(`${m.mountPath}/`));
      const volume = mount && pod.volumes.find((v: { name: string }) => v.name === mount.name);
      return volume?.secret?.secretName;
    };

    // Temporal, the ecosystem's variables: files from mounted Secrets, the API key from a Secret.
    expect(env.TEMPORAL_ADDRESS).toBe('rotor.a1b2c.tmprl.cloud:7233');
    expect(env.TEMPORAL_NAMESPACE).toBe('rotor.a1b2c');
    expect(env.TEMPORAL_TLS).toBe('true');
    expect(env.TEMPORAL_TLS_SERVER_NAME).toBe('rotor.a1b2c.tmprl.cloud');
    expect(secretMountOf(env.TEMPORAL_TLS_CLIENT_CERT_PATH!)).toBe('rotor-temporal-client');
    expect(env.TEMPORAL_TLS_CLIENT_CERT_PATH).toMatch(/\/tls\.crt$/);
    expect(secretMountOf(env.TEMPORAL_TLS_CLIENT_KEY_PATH!)).toBe('rotor-temporal-client');
    expect(env.TEMPORAL_TLS_CLIENT_KEY_PATH).toMatch(/\/tls\.key$/);
    expect(secretMountOf(env.TEMPORAL_TLS_SERVER_CA_CERT_PATH!)).toBe('rotor-temporal-ca');
    const valueFrom = (name: string) => container.env.find((e: { name: string }) => e.name === name)?.valueFrom;
    expect(valueFrom('TEMPORAL_API_KEY')).toEqual({ secretKeyRef: { name: 'rotor-temporal-api-key', key: 'api-key' } });
    expect(valueFrom('ROTOR_DATABASE_URL')).toEqual({ secretKeyRef: { name: 'rotor-database', key: 'url' } });

    // Rotor's own references are file: refs into mounted Secrets.
    for (const [name, secret] of [['ROTOR_API_TOKEN_REF', 'rotor-api-token'], ['VAULT_TOKEN_REF', 'rotor-vault-token'], ['ROTOR_GITHUB_WEBHOOK_SECRET_REF', 'rotor-github-webhook']]) {
      expect(env[name!], name).toMatch(/^file:\//);
      expect(secretMountOf(env[name!]!.slice(5)), name).toBe(secret);
    }
    expect(secretMountOf('/var/run/secrets/rotor/payments-db-admin/password')).toBe('payments-db-admin');
    // The console's login: the client secret and the session key from mounted Secrets, the roles and
    // named tokens files from the operator's ConfigMap.
    for (const [name, secret] of [['ROTOR_OIDC_CLIENT_SECRET_REF', 'rotor-oidc'], ['ROTOR_SESSION_KEY_REF', 'rotor-session']]) {
      expect(env[name!], name).toMatch(/^file:\//);
      expect(secretMountOf(env[name!]!.slice(5)), name).toBe(secret);
    }
    expect(env).toMatchObject({ ROTOR_OIDC_ISSUER: 'https://idp.example.com', ROTOR_OIDC_CLIENT_ID: 'rotor', ROTOR_OIDC_REDIRECT_URL: 'https://rotor.example.com/ui/callback', ROTOR_TEMPORAL_UI_URL: 'https://temporal.example.com' });
    expect([env.ROTOR_ROLES_FILE, env.ROTOR_API_TOKENS_FILE]).toEqual(['/etc/rotor/access/roles.yaml', '/etc/rotor/access/api-tokens.yaml']);
    const accessMount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/etc/rotor/access');
    expect(accessMount.readOnly).toBe(true);
    expect(pod.volumes.find((v: { name: string }) => v.name === accessMount.name).configMap.name).toBe('rotor-access');
    expect(secretMountOf('/var/run/secrets/rotor/database-ca/ca.crt')).toBe('rotor-database-ca');
    for (const v of pod.volumes.filter((x: { secret?: unknown }) => x.secret)) expect(v.secret.defaultMode, v.name).toBe(0o440);

    // No variable that sounds secret carries a literal value other than a reference or a path.
    for (const e of container.env as Array<{ name: string; value?: string }>) {
      if (/TOKEN|KEY|PASSWORD|SECRET|DATABASE_URL/.test(e.name) && e.value !== undefined) expect(e.value, e.name).toMatch(/^file:\/|^\/|^true$/);
    }
    expect(text).not.toMatch(/password:|BEGIN [A-Z ]*PRIVATE KEY|postgres:\/\//);
  });

  it('refuses values outside its schema, such as a secret value, and renders nothing', async () => {
    for (const values of [{ database: { url: 'postgres://rotor:hunter2@db:5432/rotor' } }, { apiToken: { value: 'hunter2' } }, { access: { oidc: { clientSecret: { value: 'hunter2' } } } }, { temporal: { address: 'no port' } }, { policies: { files: { 'notes.txt': 'x' } } }]) {
      const refused = render(values);
      await expect(refused, JSON.stringify(values)).rejects.toThrow(/schema/);
    }
  });
});

function envOf(container: { env: Array<{ name: string; value?: string }> }): Record<string, string | undefined> {
  return Object.fromEntries(container.env.map((e) => [e.name, e.value]));
}
