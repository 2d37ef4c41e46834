/**
 * TLS for the Azure emulator. Azure's SDKs refuse plain http for tokens (`ClientSecretCredential`
 * needs an https authority, the bearer-token policies an https resource), so the emulator serves
 * https on loopback with a certificate made at run time: a private CA and a server certificate it
 * signs for IP 127.0.0.1 (and `localhost`). Clients trust it through the CA's PEM, exactly as Rotor
 * trusts a company CA or a TLS-intercepting proxy (`caCertificate` in the policy).
 *
 * Generated once per process: EC P-256 keys keep it fast, and nothing is written to disk.
 */
import { generate } from 'selfsigned';

export interface LoopbackTls {
  /** PEM of the CA that signed the server certificate: what a client must trust. */
  caPem: string;
  /** Server certificate and key, for `https.createServer`. */
  cert: string;
  key: string;
}

let cached: Promise<LoopbackTls> | undefined;

async function make(): Promise<LoopbackTls> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(Date.now() + 7 * 86_400_000);
  const ca = await generate([{ name: 'commonName', value: 'Rotor test CA (Azure emulator)' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  return { caPem: ca.cert, cert: server.cert, key: server.private };
}

/** The emulator's CA and server certificate, made on first use. */
export function loopbackTls(): Promise<LoopbackTls> {
  cached ??= make();
  return cached;
}
