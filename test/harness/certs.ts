/**
 * Certificates made at run time for TLS tests (never committed): a CA and the server or client
 * certificates it signs, EC P-256 to keep it fast. Write them with `writePems` where a tool needs
 * files (PostgreSQL, `--tls-cert-path`).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

export interface Pem {
  cert: string;
  key: string;
}

const validity = () => ({ notBeforeDate: new Date(Date.now() - 60_000), notAfterDate: new Date(Date.now() + 2 * 86_400_000) });

export async function makeCa(name: string): Promise<Pem> {
  const ca = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ...validity(),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

/** A server certificate for 127.0.0.1 and localhost. */
export async function issueServer(ca: Pem, name = '127.0.0.1'): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ...validity(),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** A client certificate (mTLS) with this common name. */
export async function issueClient(ca: Pem, commonName: string): Promise<Pem> {
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    algorithm: 'sha256',
    ...validity(),
    ca: { key: ca.key, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', clientAuth: true },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Writes `<name>.crt` and `<name>.key` (0600) into dir; returns their paths. */
export async function writePems(dir: string, name: string, pem: Pem): Promise<{ cert: string; key: string }> {
  const paths = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  await writeFile(paths.cert, pem.cert);
  await writeFile(paths.key, pem.key, { mode: 0o600 });
  return paths;
}
