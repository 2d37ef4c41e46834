/**
 * A HashiCorp Vault emulator for tests and `rotor dev`: the KV version 2 HTTP API on loopback, token auth,
 * `sys/health` and `auth/token/lookup-self`, with fault injection and a request log.
 * No Vault server can be installed here, so this stands in for one behind the real node-vault client.
 * Listing answers `GET …?list=true`; Node's HTTP parser refuses the LIST verb itself, so clients must
 * use node-vault's `noCustomHTTPVerbs: true` (real Vault accepts both).
 * With `stateFile` (rotor dev) the token and every engine's keys survive a restart: the file is
 * rewritten (mode 0600: it holds the rotated secrets) before each change is answered.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector, respondWithFault } from '../faults.js';
import { readIfExists, writePrivateFile } from '../files.js';
import { LOOPBACK } from '../ports.js';
import { KvEngine, type KvSnapshot, type Reply } from './kv2.js';

export interface VaultRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: string;
  namespace?: string;
}

export interface VaultEmulator {
  /** `http://127.0.0.1:PORT`, what node-vault calls the endpoint. */
  address: string;
  /** The one token the emulator accepts (a root token). */
  token: string;
  faults: FaultInjector;
  /** Every request received, methods and paths only (never bodies or headers). */
  requests: VaultRequest[];
  /** Mounts a further KV v2 engine, e.g. `kv-apps`. */
  mount(name: string, config?: { max_versions?: number; cas_required?: boolean }): void;
  close(): Promise<void>;
}

export interface VaultEmulatorOptions {
  /** Token to accept; a random one by default. */
  token?: string;
  /** KV v2 mounts; default `['secret']`, like a dev server. */
  mounts?: string[];
  /** Loopback port to listen on; a free one by default. */
  port?: number;
  /** Where the token and the keys are kept across restarts; in memory only when absent. */
  stateFile?: string;
}

/** What `stateFile` holds. */
interface VaultState {
  token: string;
  mounts: Record<string, KvSnapshot>;
}

async function loadState(stateFile: string | undefined): Promise<VaultState | undefined> {
  const text = stateFile ? await readIfExists(stateFile) : undefined;
  if (text === undefined) return undefined;
  const state = JSON.parse(text) as Partial<VaultState>;
  if (typeof state.token !== 'string' || typeof state.mounts !== 'object' || state.mounts === null) {
    throw new Error(`${stateFile} is not a Vault emulator state file (no token or mounts)`);
  }
  return state as VaultState;
}

const KV_OPERATIONS = ['data', 'metadata', 'delete', 'undelete', 'destroy'] as const;
type KvOperation = (typeof KV_OPERATIONS)[number];

export async function startVaultEmulator(options: VaultEmulatorOptions = {}): Promise<VaultEmulator> {
  const saved = await loadState(options.stateFile);
  const token = saved?.token ?? options.token ?? `hvs.emulator-${randomBytes(12).toString('hex')}`;
  const engines = new Map<string, KvEngine>((options.mounts ?? ['secret']).map((m) => [m, new KvEngine()]));
  for (const [name, snapshot] of Object.entries(saved?.mounts ?? {})) engines.set(name, KvEngine.restore(snapshot));
  // One write at a time, in the order the changes were made.
  let saving: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    const { stateFile } = options;
    if (!stateFile) return Promise.resolve();
    const state: VaultState = { token, mounts: Object.fromEntries([...engines].map(([name, engine]) => [name, engine.snapshot()])) };
    saving = saving.catch(() => undefined).then(() => writePrivateFile(stateFile, JSON.stringify(state)));
    return saving;
  };
  await save();
  const faults = new FaultInjector();
  const requests: VaultRequest[] = [];

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, { status: 500, errors: [`emulator error: ${(error as Error).message}`] });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://vault');
    const method = (req.method ?? 'GET').toUpperCase();
    const namespace = header(req, 'x-vault-namespace');
    requests.push({ method, path: url.pathname, query: url.search, ...(namespace ? { namespace } : {}) });
    if (await respondWithFault(res, faults.take({ method, path: url.pathname }))) return;

    if (!url.pathname.startsWith('/v1/')) return send(res, { status: 404, errors: [] });
    const route = url.pathname.slice('/v1/'.length);
    if (route === 'sys/health' && (method === 'GET' || method === 'HEAD')) return sendRaw(res, 200, health());
    if (header(req, 'x-vault-token') !== token) return send(res, { status: 403, errors: ['permission denied'] });

    const body = await readJson(req);
    if (body === undefined) return send(res, { status: 400, errors: ['failed to parse JSON input'] });
    if (route === 'auth/token/lookup-self' && (method === 'GET' || method === 'POST')) return send(res, { status: 200, data: tokenInfo(token) });

    const mountName = [...engines.keys()].find((m) => route.startsWith(`${m}/`));
    if (!mountName) return send(res, { status: 404, errors: [`no handler for route "${route}". route entry not found.`] });
    const rest = route.slice(mountName.length + 1);
    const slash = rest.indexOf('/');
    const operation = (slash === -1 ? rest : rest.slice(0, slash)) as KvOperation;
    const path = slash === -1 ? '' : rest.slice(slash + 1);
    if (!KV_OPERATIONS.includes(operation)) return send(res, { status: 404, errors: [`no handler for route "${route}". route entry not found.`] });
    const listing = method === 'LIST' || (method === 'GET' && ['true', '1'].includes(url.searchParams.get('list') ?? ''));
    const reply = kv(engines.get(mountName)!, operation, method, listing, path, url, body);
    if (method !== 'GET' && method !== 'HEAD' && method !== 'LIST') await save();
    send(res, reply);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    address: `http://${LOOPBACK}:${port}`,
    token,
    faults,
    requests,
    mount(name, config = {}) {
      engines.set(name, new KvEngine({ max_versions: config.max_versions ?? 0, cas_required: config.cas_required ?? false }));
      void save().catch(() => undefined);
    },
    close: async () => {
      await new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      });
      await saving;
    },
  };
}

/** Dispatches one KV v2 request to the engine; a method a path does not support gets 405. */
function kv(engine: KvEngine, operation: KvOperation, method: string, listing: boolean, path: string, url: URL, body: Record<string, unknown>): Reply {
  const writing = method === 'POST' || method === 'PUT';
  if (operation === 'metadata' && listing) return engine.list(path);
  if (path === '' || path.endsWith('/')) return { status: 404, errors: [] };
  if (operation === 'data') {
    if (method === 'GET') return engine.read(path, Number(url.searchParams.get('version') ?? 0) || 0);
    if (writing) return engine.write(path, body);
    if (method === 'DELETE') return engine.deleteLatest(path);
  } else if (operation === 'metadata') {
    if (method === 'GET') return engine.readMetadata(path);
    if (writing) return engine.writeMetadata(path, body);
    if (method === 'DELETE') return engine.deleteMetadata(path);
  } else if (writing) {
    return engine.changeVersions(operation, path, body);
  }
  return { status: 405, errors: ['unsupported operation'] };
}

function send(res: ServerResponse, reply: Reply | { status: number; errors: string[] }): void {
  if ('errors' in reply) return sendRaw(res, reply.status, { errors: reply.errors });
  if (!('data' in reply)) {
    res.writeHead(204).end();
    return;
  }
  sendRaw(res, reply.status, {
    request_id: randomUUID(),
    lease_id: '',
    renewable: false,
    lease_duration: 0,
    data: reply.data,
    wrap_info: null,
    warnings: null,
    auth: null,
    mount_type: 'kv',
  });
}

function sendRaw(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The JSON body as an object ({} when empty), or undefined when it is not a JSON object. */
async function readJson(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function health() {
  return {
    initialized: true,
    sealed: false,
    standby: false,
    performance_standby: false,
    replication_performance_mode: 'disabled',
    replication_dr_mode: 'disabled',
    server_time_utc: Math.floor(Date.now() / 1000),
    version: '1.17.0-emulator',
    cluster_name: 'vault-emulator',
    cluster_id: 'emulator',
  };
}

/** What Vault answers for a root token (the token's own id included, as Vault does). */
function tokenInfo(token: string) {
  return {
    accessor: 'emulator-accessor',
    creation_time: 0,
    creation_ttl: 0,
    display_name: 'root',
    entity_id: '',
    expire_time: null,
    explicit_max_ttl: 0,
    id: token,
    meta: null,
    num_uses: 0,
    orphan: true,
    path: 'auth/token/root',
    policies: ['root'],
    ttl: 0,
    type: 'service',
  };
}
