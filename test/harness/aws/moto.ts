/**
 * moto (PyPI `moto[server]`, installed by scripts/setup-tools.mjs) as a second AWS emulator beside
 * ours, written by other hands: the AWS suites run against both, so a misunderstanding of the API we
 * share with our own emulator shows up as a difference.
 *
 * Authentication is on: moto lets the first INITIAL_NO_AUTH_ACTION_COUNT requests through unchecked,
 * which the harness spends on making its admin user (CreateUser, PutUserPolicy, CreateAccessKey);
 * every later request must be SigV4-signed by a key that exists in moto's IAM and be allowed by that
 * user's policies. start() proves it before handing the server out: an unknown key is refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CreateAccessKeyCommand, CreateUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { freePort, LOOPBACK } from '../ports.js';
import { toolPath } from '../tools.js';

/** The pin in scripts/setup-tools.mjs. */
export const MOTO_VERSION = '5.2.5';

/** The unauthenticated requests the bootstrap below makes; after them moto checks every request. */
const BOOTSTRAP_REQUESTS = 3;

export interface MotoServer {
  endpoint: string;
  region: string;
  /** moto's default account. */
  accountId: string;
  /** A user allowed everything (inline policy `*`), made during the bootstrap. */
  admin: { userName: string; accessKeyId: string; secretAccessKey: string };
  close(): Promise<void>;
}

export async function startMoto(options: { region?: string } = {}): Promise<MotoServer> {
  const region = options.region ?? 'us-east-1';
  const port = await freePort();
  const endpoint = `http://${LOOPBACK}:${port}`;
  const child = spawn(toolPath('moto_server'), ['-H', LOOPBACK, '-p', String(port)], {
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: String(BOOTSTRAP_REQUESTS), MOTO_IAM_LOAD_MANAGED_POLICIES: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  try {
    await waitUntilListening(endpoint, child, () => stderr);
    // Unchecked bootstrap: any signature passes, so a placeholder key signs these three.
    const bootstrap = { accessKeyId: randomKeyId(), secretAccessKey: randomBytes(20).toString('base64url') };
    const iam = new IAMClient({ endpoint, region, credentials: bootstrap, maxAttempts: 1 });
    const userName = 'moto-admin';
    await iam.send(new CreateUserCommand({ UserName: userName }));
    await iam.send(
      new PutUserPolicyCommand({
        UserName: userName,
        PolicyName: 'everything',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] }),
      }),
    );
    const key = (await iam.send(new CreateAccessKeyCommand({ UserName: userName }))).AccessKey!;
    iam.destroy();
    const admin = { userName, accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
    await proveAuthIsOn(endpoint, region, admin);
    return { endpoint, region, accountId: '123456789012', admin, close: () => stop(child) };
  } catch (error) {
    await stop(child);
    throw error;
  }
}

/** The admin key works and a key moto never issued is refused: signatures and keys are checked. */
async function proveAuthIsOn(endpoint: string, region: string, admin: { accessKeyId: string; secretAccessKey: string }): Promise<void> {
  const sts = (credentials: { accessKeyId: string; secretAccessKey: string }) => new STSClient({ endpoint, region, credentials, maxAttempts: 1 });
  const good = sts(admin);
  await good.send(new GetCallerIdentityCommand({}));
  good.destroy();
  const stranger = sts({ accessKeyId: randomKeyId(), secretAccessKey: randomBytes(20).toString('base64url') });
  const refused = await stranger.send(new GetCallerIdentityCommand({})).then(
    () => false,
    () => true,
  );
  stranger.destroy();
  if (!refused) throw new Error('moto accepted a key it never issued: INITIAL_NO_AUTH_ACTION_COUNT did not turn authentication on');
}

async function waitUntilListening(endpoint: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with ${child.exitCode}: ${stderr()}`);
    // moto's own management API answers without auth and changes nothing.
    const up = await fetch(`${endpoint}/moto-api/data.json`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    if (Date.now() > deadline) throw new Error(`moto_server did not listen on ${endpoint} within 60 s: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/** An access key id of AWS's shape, made at run time (moto never issued it): no key-like literal in the repository. */
export function randomKeyId(): string {
  return `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
}
