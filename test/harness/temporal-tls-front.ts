/**
 * A TLS-terminating front for a plaintext Temporal frontend, on loopback: what a secured cluster
 * looks like to Rotor. Temporal's dev server has no TLS options, so the front does what an mTLS
 * Temporal frontend (or Temporal Cloud's) does at the edge: it serves TLS with its own certificate,
 * with `clientCa` it requires a client certificate that CA signed (the handshake fails otherwise),
 * with `apiKey` it requires `authorization: Bearer <key>` (gRPC UNAUTHENTICATED otherwise), and it
 * forwards each gRPC call (HTTP/2 stream) to the backend. It records what it saw, for assertions.
 */
import http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Pem } from './certs.js';

export interface TlsFront {
  address: string;
  /** Authorization headers of forwarded or refused calls, in order. */
  authorizations: Array<string | undefined>;
  /** Common names of the client certificates of accepted connections. */
  clientNames: string[];
  /** TLS handshakes the front refused (no or wrong client certificate). */
  refusedHandshakes: string[];
  close(): Promise<void>;
}

const UNAUTHENTICATED = '16';
const UNAVAILABLE = '14';

export async function startTlsFront(options: { backend: string; server: Pem; clientCa?: string; apiKey?: string }): Promise<TlsFront> {
  const front: Omit<TlsFront, 'address' | 'close'> = { authorizations: [], clientNames: [], refusedHandshakes: [] };
  let backend: http2.ClientHttp2Session | undefined;
  const upstream = () => {
    if (!backend || backend.closed || backend.destroyed) {
      backend = http2.connect(`http://${options.backend}`);
      backend.on('error', () => undefined);
    }
    return backend;
  };

  const server = http2.createSecureServer({
    key: options.server.key,
    cert: options.server.cert,
    ALPNProtocols: ['h2'],
    ...(options.clientCa ? { ca: options.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
  });
  server.on('tlsClientError', (error) => front.refusedHandshakes.push(error.message));
  server.on('secureConnection', (socket: TLSSocket) => {
    const cn = socket.getPeerCertificate()?.subject?.CN;
    if (cn) front.clientNames.push(String(cn));
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    const authorization = headers.authorization as string | undefined;
    front.authorizations.push(authorization);
    if (options.apiKey && authorization !== `Bearer ${options.apiKey}`) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': UNAUTHENTICATED, 'grpc-message': 'API key missing or wrong' }, { endStream: true });
      return;
    }
    const forwarded: http2.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) if (name !== ':scheme' && name !== ':authority' && value !== undefined) forwarded[name] = value;
    let call: http2.ClientHttp2Stream;
    try {
      call = upstream().request(forwarded);
    } catch {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': UNAVAILABLE, 'grpc-message': 'backend unreachable' }, { endStream: true });
      return;
    }
    call.on('error', () => undefined);
    let trailers: http2.IncomingHttpHeaders = {};
    call.on('trailers', (t) => (trailers = t));
    call.on('response', (responseHeaders) => {
      // A trailers-only response (an error at once) is passed on as one.
      if (responseHeaders['grpc-status'] !== undefined) {
        stream.respond(responseHeaders, { endStream: true });
        return;
      }
      stream.respond(responseHeaders, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      call.pipe(stream);
    });
    stream.pipe(call);
    // A cancelled call (long polls at shutdown) is cancelled upstream, and the other way round.
    stream.on('close', () => {
      if (!call.closed) call.close(http2.constants.NGHTTP2_CANCEL);
    });
    call.on('close', () => {
      if (!stream.closed && call.rstCode && call.rstCode !== http2.constants.NGHTTP2_NO_ERROR) stream.close(call.rstCode);
    });
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    ...front,
    address: `127.0.0.1:${port}`,
    async close() {
      for (const s of sessions) s.destroy();
      backend?.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
