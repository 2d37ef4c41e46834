/**
 * The one way Rotor connects to Temporal: every command and the daemon's workers. Configured as
 * Temporal's own tools are (`@temporalio/envconfig`): a profile from `temporal.toml`
 * (TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml; TEMPORAL_PROFILE picks one),
 * overridden by TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS and
 * TEMPORAL_TLS_CLIENT_CERT_PATH/_DATA, …_CLIENT_KEY_PATH/_DATA, …_SERVER_CA_CERT_PATH/_DATA,
 * TEMPORAL_TLS_SERVER_NAME, overridden in turn by the flags the `temporal` CLI has too.
 * An API key turns TLS on (Temporal Cloud) and is sent as `authorization: Bearer <key>`.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { loadClientConfigProfile, toClientOptions, type ClientConfigProfile } from '@temporalio/envconfig';
import { NativeConnection } from '@temporalio/worker';

/** Flags named as the `temporal` CLI names them (`--address` is `--temporal` in Rotor). */
export interface TemporalFlags {
  address?: string;
  namespace?: string;
  profile?: string;
  configFile?: string;
  tls?: boolean;
  tlsCertPath?: string;
  tlsKeyPath?: string;
  tlsCaPath?: string;
  tlsServerName?: string;
}

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** What both the client's Connection and the worker's NativeConnection take. */
  options: { address: string; tls?: TLSConfig | boolean; apiKey?: string; metadata?: Record<string, string> };
  /** For messages: address, namespace and how Rotor authenticates (never the key or a path's content). */
  describe: string;
}

export class TemporalConfigError extends Error {
  override readonly name = 'TemporalConfigError';
}

const DEFAULT_ADDRESS = '127.0.0.1:7233';
const DEFAULT_NAMESPACE = 'default';

/** Resolves where and how to connect; refuses half or unsupported TLS settings instead of dropping them. */
export function resolveTemporalTarget(flags: TemporalFlags = {}, env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const vars = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const configFile = flags.configFile ?? vars.TEMPORAL_CONFIG_FILE;
  // envconfig ignores a config file that does not exist; one named on purpose must be there.
  if (configFile && !existsSync(configFile)) throw new TemporalConfigError(`Temporal config file ${configFile} does not exist`);
  if (/^(1|true)$/i.test(vars.TEMPORAL_TLS_DISABLE_HOST_VERIFICATION ?? '')) {
    throw new TemporalConfigError('TEMPORAL_TLS_DISABLE_HOST_VERIFICATION is not supported: name the certificate\'s host with TEMPORAL_TLS_SERVER_NAME instead');
  }
  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({
      profile: flags.profile,
      configSource: configFile ? { path: configFile } : undefined,
      overrideEnvVars: vars,
    });
  } catch (error) {
    throw new TemporalConfigError(`Temporal configuration: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (flags.address) profile.address = flags.address;
  if (flags.namespace) profile.namespace = flags.namespace;
  const tlsFlags = flags.tls || flags.tlsCertPath || flags.tlsKeyPath || flags.tlsCaPath || flags.tlsServerName;
  if (tlsFlags) {
    const tls = { ...profile.tls, disabled: false };
    if (flags.tlsCertPath) tls.clientCert = { path: flags.tlsCertPath };
    if (flags.tlsKeyPath) tls.clientKey = { path: flags.tlsKeyPath };
    if (flags.tlsCaPath) tls.serverCACert = { path: flags.tlsCaPath };
    if (flags.tlsServerName) tls.serverName = flags.tlsServerName;
    profile.tls = tls;
  }
  const tls = profile.tls;
  if (tls && !tls.disabled && Boolean(tls.clientCert) !== Boolean(tls.clientKey)) {
    // The SDK would silently connect without a client certificate.
    throw new TemporalConfigError('Temporal TLS: a client certificate needs its key and a key its certificate (TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH)');
  }
  let connect;
  try {
    connect = toClientOptions(profile);
  } catch (error) {
    throw new TemporalConfigError(`Temporal TLS: ${error instanceof Error ? error.message : String(error)}`);
  }
  const address = profile.address ?? DEFAULT_ADDRESS;
  const namespace = profile.namespace ?? DEFAULT_NAMESPACE;
  const o = connect.connectionOptions;
  const auth = [
    o.tls ? (typeof o.tls === 'object' && o.tls.clientCertPair ? 'mTLS (client certificate)' : 'TLS') : 'plaintext',
    ...(o.apiKey ? ['API key'] : []),
  ].join(' + ');
  return {
    address,
    namespace,
    options: { address, tls: o.tls ?? undefined, apiKey: typeof o.apiKey === 'string' ? o.apiKey : undefined, metadata: profile.grpcMeta },
    describe: `Temporal at ${address} (namespace ${namespace}, ${auth})`,
  };
}

/** A failed connection, named with the target and what to check; the cause's text is kept. */
export class TemporalConnectError extends Error {
  override readonly name = 'TemporalConnectError';
  constructor(target: TemporalTarget, cause: unknown) {
    // The SDK's own message ("Failed to connect…") keeps the reason in its cause chain.
    const reasons: string[] = [];
    for (let e: unknown = cause; e !== undefined && reasons.length < 4; e = e instanceof Error ? e.cause : undefined) {
      const text = e instanceof Error ? e.message : String(e);
      if (!reasons.some((r) => r.includes(text))) reasons.push(text);
    }
    const reason = reasons.join(': ');
    const hint = target.options.tls
      ? 'check the server CA (TEMPORAL_TLS_SERVER_CA_CERT_PATH), the client certificate and key the server expects (TEMPORAL_TLS_CLIENT_CERT_PATH/_KEY_PATH) or the API key (TEMPORAL_API_KEY)'
      : 'TLS is off: if the server requires TLS, set TEMPORAL_TLS=true (and a client certificate or API key)';
    super(`cannot connect to ${target.describe}: ${reason}; ${hint}`, { cause });
  }
}

/**
 * A target on loopback without TLS, from the address alone (no config file, no TEMPORAL_* variables):
 * a server Rotor started itself (`rotor dev`, the tests' servers).
 */
export function loopbackTemporalTarget(address: string, namespace = DEFAULT_NAMESPACE): TemporalTarget {
  return resolveTemporalTarget({ address, namespace }, {});
}

/** The client connection (commands, the reconciler, the HTTP API); `connectTimeout` (ms) for a caller polling a server that is starting. */
export async function connectTemporalClient(target: TemporalTarget, options: { connectTimeout?: number } = {}): Promise<Connection> {
  try {
    return await Connection.connect({ ...target.options, ...options });
  } catch (error) {
    throw new TemporalConnectError(target, await withHandshakeReason(target, error));
  }
}

/** The workers' connection. */
export async function connectTemporalWorker(target: TemporalTarget): Promise<NativeConnection> {
  try {
    return await NativeConnection.connect(target.options);
  } catch (error) {
    throw new TemporalConnectError(target, await withHandshakeReason(target, error));
  }
}

/**
 * gRPC reports a refused TLS handshake only as "failed to connect before the deadline". One TLS
 * handshake with the same settings names the reason (certificate required, unknown CA, …).
 */
async function withHandshakeReason(target: TemporalTarget, error: unknown): Promise<unknown> {
  const tlsOptions = target.options.tls;
  if (!tlsOptions) return error;
  const settings = typeof tlsOptions === 'object' ? tlsOptions : {};
  const [host, port] = splitAddress(target.address);
  const reason = await new Promise<string | undefined>((resolve) => {
    const socket = tlsConnect({
      host,
      port,
      servername: settings.serverNameOverride ?? (isIP(host) ? undefined : host),
      ca: bytes(settings.serverRootCACertificate),
      cert: bytes(settings.clientCertPair?.crt),
      key: bytes(settings.clientCertPair?.key),
      ALPNProtocols: ['h2'],
      timeout: 5_000,
    });
    const done = (value: string | undefined) => {
      socket.destroy();
      resolve(value);
    };
    // A server refusing the client certificate says so after the handshake (TLS 1.3): wait for its first frame.
    let handshaken = false;
    socket.once('secureConnect', () => {
      handshaken = true;
      socket.write(HTTP2_PREFACE);
    });
    socket.once('data', () => done(undefined));
    socket.once('error', (e: Error & { reason?: string }) => done(`TLS handshake: ${e.reason ?? e.message}`));
    socket.once('timeout', () => done(undefined));
    socket.once('close', () =>
      done(handshaken ? 'TLS handshake: the server closed the connection right after it: it did not accept the client certificate (or none was given)' : undefined),
    );
  });
  if (!reason) return error;
  return new Error(reason, { cause: error });
}

/** The HTTP/2 client preface and an empty SETTINGS frame: a server answers with its own SETTINGS. */
const HTTP2_PREFACE = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);

const bytes = (data: Uint8Array | undefined) => (data ? Buffer.from(data) : undefined);

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(':');
  return [address.slice(0, at).replace(/^\[|\]$/g, ''), Number(address.slice(at + 1))];
}

/** Runs `work` with a client of the target's namespace and closes the connection after. */
export async function withTemporalClient<T>(target: TemporalTarget, work: (client: Client) => Promise<T>): Promise<T> {
  const connection = await connectTemporalClient(target);
  try {
    return await work(new Client({ connection, namespace: target.namespace }));
  } finally {
    await connection.close();
  }
}
