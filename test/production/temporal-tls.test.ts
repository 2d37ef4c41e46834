/**
 * Rotor against a secured Temporal: a TLS front on loopback that requires client certificates
 * signed by its CA (a self-hosted cluster with mTLS), and one that requires an API key (Temporal
 * Cloud). The CLI (flags) and the worker (TEMPORAL_* variables) connect with the right certificate
 * and a rotation runs end to end through the front; without a certificate, with one of another CA
 * or without the key they are refused with an error naming the endpoint and what to check.
 * Certificates are made at run time.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { runCli } from '../../cli/main.js';
import { createSecretResolver } from '../../daemon/secrets.js';
import { connectTemporalClient, connectTemporalWorker, resolveTemporalTarget } from '../../daemon/temporal-connection.js';
import { createRotorWorkers } from '../../daemon/worker.js';
import { createLogger } from '../../lib/logger.js';
import { registry } from '../../providers/registry.js';
import { issueClient, issueServer, makeCa, writePems } from '../harness/certs.js';
import { captureOutput } from '../harness/cli.js';
import { dbPolicyYaml, login, servedLogin } from '../harness/db-rotation.js';
import { startRotorEnv, workflowBundle, type RotorEnv } from '../harness/env.js';
import { startTlsFront, type TlsFront } from '../harness/temporal-tls-front.js';

let env: RotorEnv;
let dir: string;
let mtls: TlsFront;
let keyed: TlsFront;
const files: Record<'ca' | 'otherCa', string> & Record<'cli' | 'worker' | 'stranger', { cert: string; key: string }> = {} as never;
const apiKey = `rotor-test-api-key-${Date.now().toString(36)}`;
const id = 'tls-db';

beforeAll(async () => {
  env = await startRotorEnv({ temporal: 'dev' });
  dir = await mkdtemp(join(tmpdir(), 'rotor-tls-'));
  const ca = await makeCa('Rotor test CA (Temporal)');
  const otherCa = await makeCa('Someone else\'s CA');
  files.ca = join(dir, 'ca.crt');
  files.otherCa = join(dir, 'other-ca.crt');
  await writeFile(files.ca, ca.cert);
  await writeFile(files.otherCa, otherCa.cert);
  files.cli = await writePems(dir, 'cli', await issueClient(ca, 'rotor-cli'));
  files.worker = await writePems(dir, 'worker', await issueClient(ca, 'rotor-worker'));
  files.stranger = await writePems(dir, 'stranger', await issueClient(otherCa, 'rotor-cli'));
  const server = await issueServer(ca);
  mtls = await startTlsFront({ backend: env.temporal.address, server, clientCa: ca.cert });
  keyed = await startTlsFront({ backend: env.temporal.address, server, apiKey });
  const yaml = dbPolicyYaml(env, id, { role: 'tls_app' }).replace('after: 24h', 'after: 0s');
  await writeFile(join(dir, 'policy.yaml'), yaml);
  await env.usePolicies(yaml);
});

afterAll(async () => {
  await mtls?.close();
  await keyed?.close();
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

/** The worker as the daemon builds it, connected with this environment (TEMPORAL_* variables). */
async function startWorkerWith(vars: Record<string, string>): Promise<{ workers: Worker[]; stop(): Promise<void> }> {
  const target = resolveTemporalTarget({}, { TEMPORAL_NAMESPACE: env.temporal.namespace, ...vars });
  const connection = await connectTemporalWorker(target);
  const workers = await createRotorWorkers({
    connection,
    namespace: target.namespace,
    taskQueue: env.taskQueue,
    store: env.store,
    policies: env.policies,
    providers: registry,
    logger: createLogger({ level: 'silent' }),
    resolveSecret: createSecretResolver({ env: env.env }),
    workflowBundle: await workflowBundle(),
  });
  const running = workers.map((w) => w.run());
  return {
    workers,
    async stop() {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
      await Promise.all(running);
      await connection.close();
    },
  };
}

// The store is named too: rotate reads it (a retired credential is refused) before it reaches Temporal.
const cli = (...args: string[]) =>
  runCli([...args, '--policies', dir, '--database-url', env.postgres.url, '--task-queue', env.taskQueue, '--namespace', env.temporal.namespace]);

describe('Temporal with mutual TLS', () => {
  it('the worker (TEMPORAL_TLS_* variables) and the CLI (--tls-* flags) connect with their certificates and a rotation runs through the front', async () => {
    const worker = await startWorkerWith({
      TEMPORAL_ADDRESS: mtls.address,
      TEMPORAL_TLS_CLIENT_CERT_PATH: files.worker.cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: files.worker.key,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca,
    });
    try {
      const output = captureOutput();
      const code = await cli('rotate', id, '--wait', '--temporal', mtls.address, '--tls-ca-path', files.ca, '--tls-cert-path', files.cli.cert, '--tls-key-path', files.cli.key);
      expect(output.text()).toContain(`${id}: succeeded`);
      expect(code).toBe(0);
    } finally {
      await worker.stop();
    }
    expect(mtls.clientNames).toEqual(expect.arrayContaining(['rotor-worker', 'rotor-cli']));
    expect(await login(env, await servedLogin(env, id))).toBe(true);
  });

  it('refuses the CLI without a client certificate, with a clear error', async () => {
    const output = captureOutput();
    const code = await cli('rotate', id, '--temporal', mtls.address, '--tls-ca-path', files.ca);
    expect(code).toBe(1);
    expect(output.text()).toMatch(new RegExp(`rotor: cannot connect to Temporal at ${mtls.address} \\(namespace default, TLS\\): TLS handshake: tlsv13 alert certificate required: .+; check .*client certificate`));
  });

  it('refuses the CLI and the worker with a certificate of another CA', async () => {
    const refusedBefore = mtls.refusedHandshakes.length;
    const output = captureOutput();
    const code = await cli('rotate', id, '--temporal', mtls.address, '--tls-ca-path', files.ca, '--tls-cert-path', files.stranger.cert, '--tls-key-path', files.stranger.key);
    expect(code).toBe(1);
    expect(output.text()).toMatch(/rotor: cannot connect to Temporal at .* \(namespace default, mTLS \(client certificate\)\): TLS handshake: .*did not accept the client certificate/);
    await expect(
      startWorkerWith({
        TEMPORAL_ADDRESS: mtls.address,
        TEMPORAL_TLS_CLIENT_CERT_PATH: files.stranger.cert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: files.stranger.key,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca,
      }),
    ).rejects.toThrow(/cannot connect to Temporal at .* \(namespace default, mTLS \(client certificate\)\): TLS handshake: .*did not accept the client certificate/);
    expect(mtls.refusedHandshakes.length).toBeGreaterThan(refusedBefore);
  });

  it('refuses a server whose certificate another CA signed (the client verifies the server too)', async () => {
    const output = captureOutput();
    const code = await cli('rotate', id, '--temporal', mtls.address, '--tls-ca-path', files.otherCa, '--tls-cert-path', files.cli.cert, '--tls-key-path', files.cli.key);
    expect(code).toBe(1);
    expect(output.text()).toMatch(/rotor: cannot connect to Temporal at .*: TLS handshake: self-signed certificate in certificate chain/);
  });

  it('refuses a client certificate without its key instead of connecting without one', async () => {
    const output = captureOutput();
    expect(await cli('rotate', id, '--temporal', mtls.address, '--tls-cert-path', files.cli.cert)).toBe(2);
    expect(output.text()).toMatch(/a client certificate needs its key/);
  });
});

describe('Temporal with an API key (as Temporal Cloud)', () => {
  it('sends the key as `authorization: Bearer <key>` over TLS, from TEMPORAL_API_KEY, for the CLI and the worker', async () => {
    vi.stubEnv('TEMPORAL_API_KEY', apiKey);
    vi.stubEnv('TEMPORAL_TLS_SERVER_CA_CERT_PATH', files.ca);
    const output = captureOutput();
    const code = await cli('rotate', id, '--temporal', keyed.address);
    expect(output.text()).toMatch(/started rotate\/tls-db/);
    expect(code).toBe(0);
    expect(output.text()).not.toContain(apiKey);
    const worker = await startWorkerWith({ TEMPORAL_ADDRESS: keyed.address, TEMPORAL_API_KEY: apiKey, TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca });
    try {
      const connection = await connectTemporalClient(resolveTemporalTarget({}, { TEMPORAL_ADDRESS: keyed.address, TEMPORAL_API_KEY: apiKey, TEMPORAL_TLS_SERVER_CA_CERT_PATH: files.ca }));
      const result = await new Client({ connection, namespace: env.temporal.namespace }).workflow.getHandle(`rotate/${id}`).result();
      expect(result).toMatchObject({ outcome: 'succeeded' });
      await connection.close();
    } finally {
      await worker.stop();
    }
    expect(keyed.authorizations.length).toBeGreaterThan(2);
    expect(new Set(keyed.authorizations)).toEqual(new Set([`Bearer ${apiKey}`]));
  });

  it('is refused without the key, and the message does not carry a key', async () => {
    vi.stubEnv('TEMPORAL_TLS_SERVER_CA_CERT_PATH', files.ca);
    vi.stubEnv('TEMPORAL_API_KEY', 'not-the-key');
    const output = captureOutput();
    const code = await cli('rotate', id, '--temporal', keyed.address);
    expect(code).toBe(1);
    expect(output.text()).toMatch(/API key missing or wrong/);
    expect(output.text()).not.toContain('not-the-key');
    expect(keyed.authorizations).toContain('Bearer not-the-key');
  });
});
