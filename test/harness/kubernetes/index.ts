/**
 * A Kubernetes API server emulator for the kubernetes-secret dependent: only the paths it uses, over
 * HTTPS on loopback, for the real @kubernetes/client-node. No API server can be installed here (no
 * Docker, no kind), so this stands in for one, following the API's documented behaviour:
 *
 * - Authentication: `Authorization: Bearer <token>` of a known service account, else 401 Status.
 *   Authorisation: each token has Role-like rules (resources, verbs, optional resourceNames); a
 *   request outside them is a 403 Status naming the user, verb, resource and namespace.
 * - Discovery (`/api/v1`, `/apis/apps/v1`), Secrets (get, list, create, patch, delete), Deployments
 *   and StatefulSets (get, list, patch).
 * - Server-side apply (`application/apply-patch+yaml`): `fieldManager` required; fields are owned per
 *   manager (managedFields, FieldsV1); a field another manager owns with another value is a 409
 *   conflict (causes of type FieldManagerConflict) unless `force=true`, which takes the ownership; a
 *   field the applier owned and no longer applies is removed. `metadata.resourceVersion` in the body
 *   is a precondition (409 Conflict when stale). A change bumps resourceVersion; a no-op keeps it.
 * - Strategic merge patches (what `kubectl rollout restart` sends) merge maps; a pod-template change
 *   bumps `metadata.generation` and starts a rollout, which the emulator's "controller" completes after
 *   `rolloutMs` (or never, for a workload marked stuck), updating status as the real controllers do.
 * - Errors are `Status` objects: 404 NotFound, 409 Conflict/AlreadyExists, 422 Invalid (causes),
 *   400 BadRequest, 415 UnsupportedMediaType.
 *
 * Secret data is base64 in the API, as in Kubernetes; the harness decodes it for assertions.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loopbackTls } from '../azure/tls.js';
import { FaultInjector, respondWithFault } from '../faults.js';
import { LOOPBACK } from '../ports.js';

type Json = Record<string, unknown>;
export type Kind = 'Secret' | 'Deployment' | 'StatefulSet';

const RESOURCES: Record<string, { kind: Kind; group: '' | 'apps' }> = {
  secrets: { kind: 'Secret', group: '' },
  deployments: { kind: 'Deployment', group: 'apps' },
  statefulsets: { kind: 'StatefulSet', group: 'apps' },
};
const PLURAL: Record<Kind, string> = { Secret: 'secrets', Deployment: 'deployments', StatefulSet: 'statefulsets' };

export interface Rule {
  resources: string[];
  verbs: string[];
  /** Limits the rule to these object names (as a Role's resourceNames); list and create ignore names. */
  resourceNames?: string[];
}

export interface ServiceAccount {
  namespace: string;
  name: string;
  token: string;
}

interface StoredObject {
  kind: Kind;
  body: Json;
  /** Manager → owned field paths (e.g. `data.password`, `metadata.annotations.x`), and how they were set. */
  owners: Map<string, { fields: Set<string>; operation: 'Apply' | 'Update' }>;
  /** A workload whose rollout never finishes. */
  stuck?: boolean;
}

export interface KubernetesEmulator {
  /** `https://127.0.0.1:PORT`. */
  server: string;
  /** PEM of the CA the server's certificate chains to. */
  caPem: string;
  faults: FaultInjector;
  /** Called before each request is handled: lets a test act as a concurrent writer at an exact moment. */
  beforeRequest?: (request: { method: string; path: string; query: URLSearchParams }) => void;
  /** Method, path and status of every request (never bodies). */
  requests: Array<{ method: string; path: string; status: number; user?: string }>;
  /** A service account with a token and these namespace-wide rules (a Role bound to it). */
  serviceAccount(namespace: string, name: string, rules: Rule[]): ServiceAccount;
  /** A kubeconfig (YAML) for a service account: server, CA data, bearer token. */
  kubeconfig(account: ServiceAccount): string;
  /** Creates an object as another manager would (an Update operation), e.g. `kubectl create`. */
  seed(kind: Kind, namespace: string, body: Json, manager?: string): void;
  /** The stored object (a copy), or undefined. */
  get(kind: Kind, namespace: string, name: string): Json | undefined;
  /** A Secret's data, decoded. */
  secretData(namespace: string, name: string): Record<string, string> | undefined;
  /** Changes a Secret's key as another writer (e.g. an operator) would. */
  writeSecretKey(namespace: string, name: string, key: string, value: string, manager: string, operation?: 'Update' | 'Apply'): void;
  /** Rollouts of this workload never finish until un-stuck. */
  setStuck(kind: 'Deployment' | 'StatefulSet', namespace: string, name: string, stuck: boolean): void;
  close(): Promise<void>;
}

export interface KubernetesEmulatorOptions {
  /** How long a rollout takes to become ready; default 100 ms. */
  rolloutMs?: number;
}

class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Json,
  ) {
    super(message);
  }
}

const status = (e: StatusError): Json => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  message: e.message,
  reason: e.reason,
  ...(e.details ? { details: e.details } : {}),
  code: e.code,
});

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const MAX_SECRET_BYTES = 1024 * 1024;

export async function startKubernetesEmulator(options: KubernetesEmulatorOptions = {}): Promise<KubernetesEmulator> {
  const rolloutMs = options.rolloutMs ?? 100;
  const tls = await loopbackTls();
  const objects = new Map<string, StoredObject>();
  const accounts = new Map<string, { account: ServiceAccount; rules: Rule[] }>();
  const faults = new FaultInjector();
  const requests: KubernetesEmulator['requests'] = [];
  const timers = new Set<NodeJS.Timeout>();
  let resourceVersion = 1000;
  const nextVersion = () => String(++resourceVersion);
  const keyOf = (kind: Kind, namespace: string, name: string) => `${kind}/${namespace}/${name}`;

  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, 500, status(new StatusError(500, 'InternalError', `emulator error: ${(error as Error).message}`)));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://kubernetes');
    const method = req.method ?? 'GET';
    const entry: KubernetesEmulator['requests'][number] = { method, path: url.pathname, status: 200 };
    requests.push(entry);
    const body = await readBody(req);
    const reply = (code: number, payload: unknown) => {
      entry.status = code;
      send(res, code, payload);
    };
    emulator.beforeRequest?.({ method, path: url.pathname, query: url.searchParams });
    if (await respondWithFault(res, faults.take({ method, path: url.pathname }))) {
      entry.status = res.statusCode;
      return;
    }
    try {
      const caller = authenticate(req.headers.authorization);
      entry.user = `system:serviceaccount:${caller.account.namespace}:${caller.account.name}`;
      reply(...route(method, url, body, req.headers['content-type'] ?? '', caller));
    } catch (error) {
      if (!(error instanceof StatusError)) throw error;
      reply(error.code, status(error));
    }
  }

  function authenticate(header: string | undefined) {
    const match = /^Bearer ([^\s]+)$/.exec(header ?? '');
    const known = match ? accounts.get(match[1]!) : undefined;
    if (!known) throw new StatusError(401, 'Unauthorized', 'Unauthorized');
    return known;
  }

  function authorize(caller: { account: ServiceAccount; rules: Rule[] }, verb: string, resource: string, namespace: string, name?: string) {
    const allowed = caller.rules.some(
      (r) => r.resources.includes(resource) && r.verbs.includes(verb) && (!r.resourceNames?.length || (name !== undefined && r.resourceNames.includes(name))),
    );
    if (allowed && namespace === caller.account.namespace) return;
    const group = RESOURCES[resource]?.group ?? '';
    const user = `system:serviceaccount:${caller.account.namespace}:${caller.account.name}`;
    const what = name ? `${resource} "${name}" is forbidden` : `${resource} is forbidden`;
    throw new StatusError(403, 'Forbidden', `${what}: User "${user}" cannot ${verb} resource "${resource}" in API group "${group}" in the namespace "${namespace}"`, {
      ...(name ? { name } : {}),
      kind: resource,
      ...(group ? { group } : {}),
    });
  }

  function route(method: string, url: URL, raw: Buffer, contentType: string, caller: { account: ServiceAccount; rules: Rule[] }): [number, unknown] {
    const path = url.pathname.replace(/\/+$/, '');
    if (method === 'GET' && path === '/api/v1') return [200, discovery('v1', ['secrets'])];
    if (method === 'GET' && path === '/apis/apps/v1') return [200, discovery('apps/v1', ['deployments', 'statefulsets'])];
    const m = /^\/(?:api\/v1|apis\/apps\/v1)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(path);
    const resource = m?.[2];
    const known = resource ? RESOURCES[resource] : undefined;
    if (!m || !known || path.startsWith('/apis/apps/v1') !== (known.group === 'apps')) {
      throw new StatusError(404, 'NotFound', 'the server could not find the requested resource');
    }
    const namespace = decodeURIComponent(m[1]!);
    const name = m[3] === undefined ? undefined : decodeURIComponent(m[3]);
    const kind = known.kind;
    if (name === undefined) {
      if (method === 'GET') {
        authorize(caller, 'list', resource!, namespace);
        const items = [...objects.values()].filter((o) => o.kind === kind && (o.body.metadata as Json).namespace === namespace).map((o) => render(o));
        return [200, { apiVersion: apiVersion(kind), kind: `${kind}List`, metadata: { resourceVersion: String(resourceVersion) }, items }];
      }
      if (method === 'POST') {
        authorize(caller, 'create', resource!, namespace);
        const input = parseJson(raw);
        const objName = String(((input.metadata as Json | undefined) ?? {}).name ?? '');
        create(kind, namespace, objName, input, url.searchParams.get('fieldManager') ?? 'unknown', 'Update');
        return [201, render(objects.get(keyOf(kind, namespace, objName))!)];
      }
      throw new StatusError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`);
    }
    const key = keyOf(kind, namespace, name);
    const existing = objects.get(key);
    const notFound = () => new StatusError(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource, ...(known.group ? { group: known.group } : {}) });
    switch (method) {
      case 'GET':
        authorize(caller, 'get', resource!, namespace, name);
        if (!existing) throw notFound();
        return [200, render(existing)];
      case 'DELETE':
        authorize(caller, 'delete', resource!, namespace, name);
        if (!existing) throw notFound();
        objects.delete(key);
        return [200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, kind: resource, uid: (existing.body.metadata as Json).uid } }];
      case 'PATCH': {
        authorize(caller, 'patch', resource!, namespace, name);
        const type = contentType.split(';')[0]!.trim();
        if (type === 'application/apply-patch+yaml') {
          // An apply that creates the object also needs the create verb (which RBAC cannot limit by name).
          if (!existing) authorize(caller, 'create', resource!, namespace);
          return apply(kind, namespace, name, raw, url.searchParams, existing);
        }
        if (type === 'application/strategic-merge-patch+json' || type === 'application/merge-patch+json') {
          if (!existing) throw notFound();
          return [200, mergePatch(existing, parseJson(raw), url.searchParams.get('fieldManager') ?? 'unknown')];
        }
        throw new StatusError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
      }
      default:
        throw new StatusError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
    }
  }

  function create(kind: Kind, namespace: string, name: string, input: Json, manager: string, operation: 'Apply' | 'Update'): StoredObject {
    validate(kind, name, input);
    const key = keyOf(kind, namespace, name);
    if (objects.has(key)) throw new StatusError(409, 'AlreadyExists', `${PLURAL[kind]} "${name}" already exists`, { name, kind: PLURAL[kind] });
    const meta = { ...((input.metadata as Json | undefined) ?? {}) };
    delete meta.resourceVersion;
    delete meta.managedFields;
    const body: Json = {
      ...input,
      apiVersion: apiVersion(kind),
      kind,
      metadata: { ...meta, name, namespace, uid: randomUUID(), resourceVersion: nextVersion(), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), ...(kind === 'Secret' ? {} : { generation: 1 }) },
    };
    if (kind === 'Secret' && body.type === undefined) body.type = 'Opaque';
    const stored: StoredObject = { kind, body, owners: new Map([[manager, { fields: leafPaths(strip(input)), operation }]]) };
    if (kind !== 'Secret') startRollout(stored, true);
    objects.set(key, stored);
    return stored;
  }

  /** Server-side apply of one object. */
  function apply(kind: Kind, namespace: string, name: string, raw: Buffer, query: URLSearchParams, existing: StoredObject | undefined): [number, unknown] {
    const manager = query.get('fieldManager');
    if (!manager) throw new StatusError(400, 'BadRequest', 'PATCH /' + PLURAL[kind] + ': fieldManager is required for apply requests');
    const input = parseJson(raw);
    if (input.apiVersion !== apiVersion(kind) || input.kind !== kind) {
      throw new StatusError(400, 'BadRequest', `apply patch must name apiVersion ${apiVersion(kind)} and kind ${kind}`);
    }
    const meta = (input.metadata as Json | undefined) ?? {};
    if (meta.name !== name) throw new StatusError(400, 'BadRequest', `the name of the object (${String(meta.name)}) does not match the name on the URL (${name})`);
    if (meta.namespace !== undefined && meta.namespace !== namespace) {
      throw new StatusError(400, 'BadRequest', `the namespace of the provided object does not match the namespace sent on the request`);
    }
    const precondition = meta.resourceVersion;
    if (!existing) {
      if (precondition !== undefined) throw new StatusError(404, 'NotFound', `${PLURAL[kind]} "${name}" not found`, { name, kind: PLURAL[kind] });
      if (query.get('dryRun') === 'All') {
        validate(kind, name, input);
        return [201, { ...input, metadata: { ...meta, namespace } }];
      }
      return [201, render(create(kind, namespace, name, input, manager, 'Apply'))];
    }
    const current = existing.body.metadata as Json;
    if (precondition !== undefined && precondition !== current.resourceVersion) {
      throw new StatusError(409, 'Conflict', `Operation cannot be fulfilled on ${PLURAL[kind]} "${name}": the object has been modified; please apply your changes to the latest version and try again`, {
        name,
        kind: PLURAL[kind],
      });
    }
    const applied = strip(input);
    const fields = leafPaths(applied);
    const force = query.get('force') === 'true';
    const conflicts: Array<{ manager: string; field: string }> = [];
    for (const field of fields) {
      for (const [other, owned] of existing.owners) {
        if (other !== manager && owned.fields.has(field) && JSON.stringify(valueAt(existing.body, field)) !== JSON.stringify(valueAt(applied, field))) {
          conflicts.push({ manager: other, field });
        }
      }
    }
    if (conflicts.length && !force) {
      const causes = conflicts.map((c) => ({ type: 'FieldManagerConflict', message: `conflict with "${c.manager}" using ${apiVersion(kind)}`, field: `.${c.field}` }));
      const list = conflicts.map((c) => `conflict with "${c.manager}" using ${apiVersion(kind)}: .${c.field}`).join('\n- ');
      throw new StatusError(409, 'Conflict', `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? 's' : ''}: ${list}`, { causes });
    }
    const next = structuredClone(existing.body);
    // Fields this manager applied before and applies no more are removed (unless another manager owns them).
    const before = existing.owners.get(manager);
    for (const field of before?.operation === 'Apply' ? before.fields : []) {
      if (!fields.has(field) && ![...existing.owners].some(([o, owned]) => o !== manager && owned.fields.has(field))) removeAt(next, field);
    }
    for (const field of fields) setAt(next, field, valueAt(applied, field));
    validate(kind, name, next);
    if (query.get('dryRun') === 'All') return [200, { ...next, metadata: { ...(next.metadata as Json) } }];
    for (const c of conflicts) existing.owners.get(c.manager)!.fields.delete(c.field);
    for (const [other, owned] of existing.owners) if (other !== manager && owned.fields.size === 0) existing.owners.delete(other);
    existing.owners.set(manager, { fields, operation: 'Apply' });
    commit(existing, next);
    return [200, render(existing)];
  }

  function mergePatch(existing: StoredObject, patch: Json, manager: string): Json {
    const next = merge(structuredClone(existing.body), strip(patch)) as Json;
    validate(existing.kind, String((next.metadata as Json).name), next);
    const owned = existing.owners.get(manager) ?? { fields: new Set<string>(), operation: 'Update' as const };
    for (const field of leafPaths(strip(patch))) owned.fields.add(field);
    existing.owners.set(manager, owned);
    commit(existing, next);
    return render(existing);
  }

  /** Stores `next` when it differs: a new resourceVersion, and for a workload a new generation when its spec changed. */
  function commit(existing: StoredObject, next: Json): void {
    const { resourceVersion: _rv, ...oldMeta } = existing.body.metadata as Json;
    const { resourceVersion: _rv2, ...newMeta } = next.metadata as Json;
    const changed = JSON.stringify({ ...existing.body, metadata: oldMeta }) !== JSON.stringify({ ...next, metadata: newMeta });
    if (!changed) return;
    const specChanged = JSON.stringify(existing.body.spec) !== JSON.stringify(next.spec);
    (next.metadata as Json).resourceVersion = nextVersion();
    existing.body = next;
    if (existing.kind !== 'Secret' && specChanged) {
      (next.metadata as Json).generation = Number((next.metadata as Json).generation ?? 1) + 1;
      startRollout(existing, false);
    }
  }

  /** The controller's view: a rollout starts (old pods serve, none updated) and finishes after rolloutMs. */
  function startRollout(stored: StoredObject, fresh: boolean): void {
    const replicas = Number(((stored.body.spec as Json | undefined) ?? {}).replicas ?? 1);
    const generation = Number((stored.body.metadata as Json).generation ?? 1);
    const revision = `${(stored.body.metadata as Json).name}-${generation}`;
    const previous = (stored.body.status as Json | undefined) ?? {};
    stored.body.status =
      stored.kind === 'Deployment'
        ? { observedGeneration: generation, replicas: fresh ? 0 : replicas * 2, updatedReplicas: 0, readyReplicas: fresh ? 0 : replicas, availableReplicas: fresh ? 0 : replicas }
        : { observedGeneration: generation, replicas, readyReplicas: fresh ? 0 : replicas, updatedReplicas: 0, currentReplicas: fresh ? 0 : replicas, currentRevision: previous.currentRevision ?? revision, updateRevision: revision };
    const timer = setTimeout(() => {
      timers.delete(timer);
      const key = keyOf(stored.kind, String((stored.body.metadata as Json).namespace), String((stored.body.metadata as Json).name));
      if (objects.get(key) !== stored || stored.stuck || Number((stored.body.metadata as Json).generation) !== generation) return;
      stored.body.status =
        stored.kind === 'Deployment'
          ? { observedGeneration: generation, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas }
          : { observedGeneration: generation, replicas, readyReplicas: replicas, updatedReplicas: replicas, currentReplicas: replicas, currentRevision: revision, updateRevision: revision };
      (stored.body.metadata as Json).resourceVersion = nextVersion();
    }, rolloutMs);
    timers.add(timer);
  }

  function validate(kind: Kind, name: string, body: Json): void {
    const causes: Json[] = [];
    if (!DNS_SUBDOMAIN.test(name) || name.length > 253) {
      causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'`, field: 'metadata.name' });
    }
    if (kind === 'Secret') {
      let size = 0;
      for (const [key, value] of Object.entries((body.data as Record<string, unknown> | undefined) ?? {})) {
        if (!SECRET_KEY.test(key) || key.length > 253) {
          causes.push({ reason: 'FieldValueInvalid', message: `Invalid value: "${key}": a valid config key must consist of alphanumeric characters, '-', '_' or '.'`, field: `data[${key}]` });
        }
        if (typeof value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
          throw new StatusError(400, 'BadRequest', `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0`);
        }
        size += Buffer.from(value, 'base64').length;
      }
      if (size > MAX_SECRET_BYTES) causes.push({ reason: 'FieldValueTooLong', message: `Too long: must have at most ${MAX_SECRET_BYTES} bytes`, field: 'data' });
    }
    if (causes.length) {
      throw new StatusError(422, 'Invalid', `${kind} "${name}" is invalid: ${causes.map((c) => `${String(c.field)}: ${String(c.message)}`).join(', ')}`, { name, kind, causes });
    }
  }

  function render(stored: StoredObject): Json {
    const out = structuredClone(stored.body);
    (out.metadata as Json).managedFields = [...stored.owners].map(([manager, owned]) => ({
      manager,
      operation: owned.operation,
      apiVersion: apiVersion(stored.kind),
      time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      fieldsType: 'FieldsV1',
      fieldsV1: fieldsV1(owned.fields),
    }));
    return out;
  }

  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as AddressInfo;
  const address = `https://${LOOPBACK}:${port}`;

  const emulator: KubernetesEmulator = {
    server: address,
    caPem: tls.caPem,
    faults,
    requests,
    serviceAccount(namespace, name, rules) {
      const account = { namespace, name, token: `sa-${randomUUID()}` };
      accounts.set(account.token, { account, rules });
      return account;
    },
    kubeconfig(account) {
      return [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '  - name: emulator',
        '    cluster:',
        `      server: ${address}`,
        `      certificate-authority-data: ${Buffer.from(tls.caPem).toString('base64')}`,
        'users:',
        `  - name: ${account.name}`,
        '    user:',
        `      token: ${account.token}`,
        'contexts:',
        '  - name: emulator',
        '    context:',
        '      cluster: emulator',
        `      user: ${account.name}`,
        `      namespace: ${account.namespace}`,
        'current-context: emulator',
        '',
      ].join('\n');
    },
    seed(kind, namespace, body, manager = 'kubectl-create') {
      create(kind, namespace, String((body.metadata as Json).name), structuredClone(body), manager, 'Update');
    },
    get(kind, namespace, name) {
      const stored = objects.get(keyOf(kind, namespace, name));
      return stored && render(stored);
    },
    secretData(namespace, name) {
      const stored = objects.get(keyOf('Secret', namespace, name));
      if (!stored) return undefined;
      return Object.fromEntries(Object.entries((stored.body.data as Record<string, string> | undefined) ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
    },
    writeSecretKey(namespace, name, key, value, manager, operation = 'Update') {
      const stored = objects.get(keyOf('Secret', namespace, name));
      if (!stored) throw new Error(`no secret ${namespace}/${name}`);
      const data = { [key]: Buffer.from(value).toString('base64') };
      if (operation === 'Update') mergePatch(stored, { data }, manager);
      else apply('Secret', namespace, name, Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name }, data })), new URLSearchParams({ fieldManager: manager, force: 'true' }), stored);
    },
    setStuck(kind, namespace, name, stuck) {
      const stored = objects.get(keyOf(kind, namespace, name));
      if (!stored) throw new Error(`no ${kind} ${namespace}/${name}`);
      stored.stuck = stuck;
      if (!stuck) startRollout(stored, false);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const t of timers) clearTimeout(t);
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  return emulator;
}

function apiVersion(kind: Kind): string {
  return kind === 'Secret' ? 'v1' : 'apps/v1';
}

function discovery(groupVersion: string, plurals: string[]): Json {
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: plurals.map((name) => ({
      name,
      singularName: name.replace(/s$/, ''),
      namespaced: true,
      kind: RESOURCES[name]!.kind,
      verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'],
    })),
  };
}

/** The parts of an object a manager can own: not apiVersion/kind/status or server-set metadata. */
function strip(input: Json): Json {
  const { apiVersion: _a, kind: _k, status: _s, metadata, ...rest } = input;
  const { name: _n, namespace: _ns, resourceVersion: _rv, uid: _u, managedFields: _m, creationTimestamp: _c, generation: _g, ...meta } = (metadata as Json | undefined) ?? {};
  return Object.keys(meta).length ? { ...rest, metadata: meta } : rest;
}

/** Dotted paths of the leaves of a JSON object (maps recurse; arrays and scalars are leaves). */
function leafPaths(value: unknown, prefix = ''): Set<string> {
  const out = new Set<string>();
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    // An empty map owns nothing below it (SSA's `f:data: {}`), so it removes nobody else's keys.
    for (const [k, v] of Object.entries(value)) for (const p of leafPaths(v, prefix ? `${prefix}.${k}` : k)) out.add(p);
  } else if (prefix) {
    out.add(prefix);
  }
  return out;
}

function segments(path: string): string[] {
  // Keys with dots (annotation names like kubectl.kubernetes.io/restartedAt) are kept whole under annotations/labels/data.
  const parts = path.split('.');
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const parent = out[out.length - 1];
    if (parent === 'annotations' || parent === 'labels' || parent === 'data' || parent === 'stringData') {
      out.push(parts.slice(i).join('.'));
      break;
    }
    out.push(parts[i]!);
  }
  return out;
}

function valueAt(obj: Json, path: string): unknown {
  let at: unknown = obj;
  for (const s of segments(path)) at = at && typeof at === 'object' ? (at as Json)[s] : undefined;
  return at;
}

function setAt(obj: Json, path: string, value: unknown): void {
  const segs = segments(path);
  let at = obj;
  for (const s of segs.slice(0, -1)) at = (at[s] && typeof at[s] === 'object' ? at[s] : (at[s] = {})) as Json;
  at[segs[segs.length - 1]!] = structuredClone(value);
}

function removeAt(obj: Json, path: string): void {
  const segs = segments(path);
  let at: Json | undefined = obj;
  for (const s of segs.slice(0, -1)) at = at?.[s] as Json | undefined;
  if (at) delete at[segs[segs.length - 1]!];
}

function fieldsV1(fields: Set<string>): Json {
  const out: Json = {};
  for (const field of fields) {
    let at = out;
    for (const s of segments(field)) at = (at[`f:${s}`] ??= {}) as Json;
  }
  return out;
}

function merge(target: unknown, patch: unknown): unknown {
  if (!patch || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? (target as Json) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

function parseJson(raw: Buffer): Json {
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Json;
  } catch {
    // answered below
  }
  throw new StatusError(400, 'BadRequest', 'the request body could not be decoded as a JSON or YAML object');
}

function send(res: ServerResponse, code: number, payload: unknown): void {
  const text = JSON.stringify(payload);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
