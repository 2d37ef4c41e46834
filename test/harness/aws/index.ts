/**
 * An AWS emulator for tests: IAM and STS (awsQuery) and Secrets Manager (awsJson1_1) in one HTTP
 * server on loopback, behind real SigV4 verification, for the real AWS SDK clients. No AWS service
 * can be installed here, so this stands in for them.
 *
 * Each request: read it, name its service and action, ask the FaultInjector, authenticate (the
 * access key must exist, be Active and have propagated; the signature must verify with its
 * secret), authorise (test-set denials), record the key's last use, then handle it.
 *
 * AWS puts every call on `/`, so the FaultRequest path the emulator hands the injector is
 * `/<service>/<Action>` (e.g. `/iam/CreateAccessKey`), letting a rule target one action.
 */
import { randomInt } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector, respondWithFault } from '../faults.js';
import { LOOPBACK } from '../ports.js';
import { IamState, type UserRecord } from './iam.js';
import { SecretsManagerState } from './secrets-manager.js';
import { parseAuthorization, scopeProblem, signatureMatches } from './sigv4.js';
import { AwsError, jsonError, queryError, queryResponse, sendJson, sendXml, type Service } from './wire.js';

export { awsFault } from './wire.js';

export interface AwsRequest {
  service: Service | 'unknown';
  action: string;
  /** The access key id the request was signed with, if any. */
  accessKeyId?: string;
  /** HTTP status of the answer. */
  status: number;
  /** The error code of a refused request. */
  error?: string;
}

export interface AwsTestUser {
  userName: string;
  arn: string;
  userId: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface AwsEmulator {
  /** `http://127.0.0.1:PORT`, the SDK clients' `endpoint`. */
  endpoint: string;
  region: string;
  accountId: string;
  faults: FaultInjector;
  /** Every request: service, action, key id and outcome (never bodies or secrets). */
  requests: AwsRequest[];
  iam: {
    /** A user with one access key that works at once (keys Rotor or an app starts with). */
    createUser(name: string, options?: { path?: string }): AwsTestUser;
    /** Another access key for a user, valid at once, as if made long ago. */
    addAccessKey(userName: string, options?: { status?: 'Active' | 'Inactive'; createdAt?: Date }): { accessKeyId: string; secretAccessKey: string };
    /** Access keys of a user, without secrets. */
    accessKeys(userName: string): Array<{ accessKeyId: string; status: 'Active' | 'Inactive'; createdAt: Date; lastUsedAt?: Date }>;
    /** How long a NEW key is refused (InvalidClientTokenId) after CreateAccessKey, like IAM's propagation. */
    setPropagationDelay(ms: number): void;
    attachPolicy(userName: string, policyArn: string): void;
    /** A customer managed policy; returns its ARN, to attach. */
    createPolicy(name: string, document: unknown): string;
    putUserPolicy(userName: string, policyName: string, document: unknown): void;
    /** Answers `action` (`iam:CreateAccessKey`, `secretsmanager:PutSecretValue`) with AccessDenied for this user. */
    deny(userName: string, action: string): void;
    /** Undoes deny(). */
    allow(userName: string, action: string): void;
    /** Every secret access key the emulator issued, for leak scans. */
    issuedSecrets(): string[];
  };
  secretsManager: {
    /** Labels per version id (VersionIdsToStages) of a secret, by name or ARN. */
    stages(secretId: string): Record<string, string[]>;
  };
  close(): Promise<void>;
}

export interface AwsEmulatorOptions {
  region?: string;
  accountId?: string;
  /** Delay before a key made by CreateAccessKey authenticates; default 0. */
  propagationDelayMs?: number;
}

export async function startAwsEmulator(options: AwsEmulatorOptions = {}): Promise<AwsEmulator> {
  const region = options.region ?? 'us-east-1';
  const accountId = options.accountId ?? String(randomInt(100_000_000_000, 999_999_999_999));
  const iam = new IamState(accountId, options.propagationDelayMs ?? 0);
  const secretsManager = new SecretsManagerState(region, accountId);
  const faults = new FaultInjector();
  const requests: AwsRequest[] = [];

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { __type: 'InternalFailure', message: `emulator error: ${(error as Error).message}` });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://aws');
    const auth = parseAuthorization(header(req, 'authorization'));
    const { service, action, params, input } = identify(req, body, auth?.service);
    const entry: AwsRequest = { service, action, ...(auth ? { accessKeyId: auth.accessKeyId } : {}), status: 200 };
    requests.push(entry);
    if (await respondWithFault(res, faults.take({ method: req.method ?? 'POST', path: `/${service}/${action}` }))) {
      entry.status = res.statusCode;
      return;
    }

    const reply = (status: number, result: unknown) => {
      entry.status = status;
      if (service === 'secretsmanager') return sendJson(res, status, result);
      sendXml(res, status, queryResponse(service === 'sts' ? 'sts' : 'iam', action, result as never));
    };
    const fail = (error: AwsError) => {
      entry.status = error.status;
      entry.error = error.code;
      if (service === 'secretsmanager') return sendJson(res, error.status, jsonError(error));
      sendXml(res, error.status, queryError(service === 'sts' ? 'sts' : 'iam', error));
    };

    try {
      if (service === 'unknown') throw new AwsError('UnknownOperationException', 400, 'Cannot tell which service this request is for.');
      const caller = authenticate(service, auth, { method: req.method ?? 'POST', path: url.pathname, query: url.search.slice(1), headers: req.headers, body });
      if (service === 'secretsmanager') {
        iam.authorize(caller, `secretsmanager:${action}`, `arn:aws:secretsmanager:${region}:${accountId}:secret:*`);
        reply(200, secretsManager.handle(action, input));
      } else if (service === 'sts') {
        reply(200, iam.sts(action, caller));
      } else {
        reply(200, iam.iam(action, params, caller));
      }
    } catch (error) {
      if (!(error instanceof AwsError)) throw error;
      fail(service === 'secretsmanager' ? asJsonServiceError(error) : error);
    }
  }

  /** The caller's user, or AWS's refusal: missing auth, unknown/inactive/unpropagated key, bad signature. */
  function authenticate(service: Service, auth: ReturnType<typeof parseAuthorization>, arrived: Parameters<typeof signatureMatches>[0]): UserRecord {
    if (!auth) throw new AwsError('MissingAuthenticationToken', 403, 'Request is missing Authentication Token');
    const problem = scopeProblem(arrived, auth, region);
    if (problem) throw new AwsError('SignatureDoesNotMatch', 403, problem);
    const key = iam.authenticate(auth.accessKeyId);
    if (!signatureMatches(arrived, auth, key.secret)) {
      throw new AwsError(
        'SignatureDoesNotMatch',
        403,
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    key.lastUsed = { date: new Date(), service, region };
    return iam.user(key.userName);
  }

  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    region,
    accountId,
    faults,
    requests,
    iam: {
      createUser(name, opts = {}) {
        const user = iam.createUser(name, opts.path);
        const key = iam.createKey(name, true);
        return { userName: name, arn: user.arn, userId: user.userId, accessKeyId: key.id, secretAccessKey: key.secret };
      },
      addAccessKey(userName, opts = {}) {
        const key = iam.createKey(userName, true);
        key.status = opts.status ?? 'Active';
        if (opts.createdAt) key.createdAt = opts.createdAt;
        return { accessKeyId: key.id, secretAccessKey: key.secret };
      },
      accessKeys: (userName) =>
        iam.keysOf(userName).map((k) => ({ accessKeyId: k.id, status: k.status, createdAt: k.createdAt, ...(k.lastUsed ? { lastUsedAt: k.lastUsed.date } : {}) })),
      setPropagationDelay(ms) {
        iam.propagationDelayMs = ms;
      },
      attachPolicy(userName, policyArn) {
        iam.user(userName).attachedPolicies.push({ PolicyName: policyArn.split('/').pop()!, PolicyArn: policyArn });
      },
      createPolicy: (name, document) => iam.createPolicy(name, typeof document === 'string' ? document : JSON.stringify(document)).arn,
      putUserPolicy(userName, policyName, document) {
        iam.user(userName).inlinePolicies.set(policyName, typeof document === 'string' ? document : JSON.stringify(document));
      },
      deny(userName, action) {
        iam.user(userName).denied.add(action);
      },
      allow(userName, action) {
        iam.user(userName).denied.delete(action);
      },
      issuedSecrets: () => [...iam.issuedSecrets],
    },
    secretsManager: { stages: (secretId) => secretsManager.stages(secretId) },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Secrets Manager's names for the refusals IAM and STS call otherwise (and its 400 status). */
function asJsonServiceError(error: AwsError): AwsError {
  const renamed: Record<string, string> = {
    InvalidClientTokenId: 'UnrecognizedClientException',
    SignatureDoesNotMatch: 'InvalidSignatureException',
    MissingAuthenticationToken: 'MissingAuthenticationTokenException',
    AccessDenied: 'AccessDeniedException',
  };
  const code = renamed[error.code];
  if (!code) return error;
  const message = code === 'MissingAuthenticationTokenException' ? 'Missing Authentication Token' : error.message;
  return new AwsError(code, 400, message);
}

const STS_ACTIONS = new Set(['GetCallerIdentity', 'AssumeRole', 'GetSessionToken']);

/** Service and action from X-Amz-Target (awsJson) or the form's Action (awsQuery), checked against the signing scope. */
function identify(req: IncomingMessage, body: Buffer, scopeService: string | undefined) {
  const target = header(req, 'x-amz-target');
  if (target?.startsWith('secretsmanager.')) {
    let input: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8') || '{}');
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) input = parsed as Record<string, unknown>;
    } catch {
      // An unparsable body is answered by the handler as a missing-field validation error.
    }
    return { service: 'secretsmanager' as const, action: target.slice('secretsmanager.'.length), params: new URLSearchParams(), input };
  }
  const params = new URLSearchParams(body.toString('utf8'));
  const action = params.get('Action') ?? '';
  const byScope = scopeService === 'iam' || scopeService === 'sts' ? scopeService : undefined;
  const service: Service | 'unknown' = byScope ?? (action === '' ? 'unknown' : STS_ACTIONS.has(action) ? 'sts' : 'iam');
  return { service, action, params, input: {} };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
