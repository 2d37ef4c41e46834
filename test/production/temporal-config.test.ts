/**
 * How Rotor reads Temporal's settings, as the `temporal` CLI does: a temporal.toml profile, then
 * TEMPORAL_* variables over it, then flags over both; settings it cannot honour are refused.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loopbackTemporalTarget, resolveTemporalTarget, TemporalConfigError } from '../../daemon/temporal-connection.js';
import { issueClient, makeCa, writePems } from '../harness/certs.js';

let dir: string;
let toml: string;
let pems: { cert: string; key: string };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rotor-temporal-config-'));
  pems = await writePems(dir, 'client', await issueClient(await makeCa('config test CA'), 'rotor'));
  toml = join(dir, 'temporal.toml');
  await writeFile(
    toml,
    `[profile.default]\naddress = "default.example:7233"\n\n[profile.prod]\naddress = "prod.example:7233"\nnamespace = "rotor"\n[profile.prod.tls]\nclient_cert_path = "${pems.cert}"\nclient_key_path = "${pems.key}"\n`,
  );
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('Temporal settings', () => {
  it('defaults to plaintext 127.0.0.1:7233, namespace default, with no config file', () => {
    const target = resolveTemporalTarget({}, { HOME: dir });
    expect(target).toMatchObject({ address: '127.0.0.1:7233', namespace: 'default', options: { tls: undefined, apiKey: undefined } });
    expect(target.describe).toBe('Temporal at 127.0.0.1:7233 (namespace default, plaintext)');
  });

  it('a server Rotor started itself is reached in plaintext at its address, whatever TEMPORAL_* and the config file say', () => {
    const saved = { ...process.env };
    Object.assign(process.env, { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod', TEMPORAL_API_KEY: 'k-not-for-this-server', TEMPORAL_TLS: 'true' });
    try {
      const target = loopbackTemporalTarget('127.0.0.1:7999', 'dev');
      expect(target).toMatchObject({ address: '127.0.0.1:7999', namespace: 'dev', options: { address: '127.0.0.1:7999', tls: undefined, apiKey: undefined } });
      // What the same variables do to an ordinary target, so the test can fail.
      expect(resolveTemporalTarget({ address: '127.0.0.1:7999' }).options.apiKey).toBe('k-not-for-this-server');
    } finally {
      process.env = saved;
    }
  });

  it('reads a profile, lets TEMPORAL_* override it and flags override both', () => {
    const fromProfile = resolveTemporalTarget({}, { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod' });
    expect(fromProfile).toMatchObject({ address: 'prod.example:7233', namespace: 'rotor' });
    expect(fromProfile.describe).toMatch(/mTLS \(client certificate\)/);
    const fromEnv = resolveTemporalTarget({}, { TEMPORAL_CONFIG_FILE: toml, TEMPORAL_PROFILE: 'prod', TEMPORAL_ADDRESS: 'env.example:7233' });
    expect(fromEnv.address).toBe('env.example:7233');
    const fromFlags = resolveTemporalTarget(
      { configFile: toml, profile: 'default', address: 'flag.example:7233', namespace: 'ops' },
      { TEMPORAL_ADDRESS: 'env.example:7233' },
    );
    expect(fromFlags).toMatchObject({ address: 'flag.example:7233', namespace: 'ops', options: { tls: undefined } });
  });

  it('turns TLS on for an API key and never shows the key', () => {
    const target = resolveTemporalTarget({}, { TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k-very-secret' });
    expect(target.options).toMatchObject({ tls: true, apiKey: 'k-very-secret' });
    expect(target.describe).toBe('Temporal at ns.acct.tmprl.cloud:7233 (namespace default, TLS + API key)');
  });

  it('refuses what it cannot honour instead of connecting with less', () => {
    expect(() => resolveTemporalTarget({ configFile: join(dir, 'missing.toml') }, {})).toThrow(/Temporal config file .*missing\.toml does not exist/);
    expect(() => resolveTemporalTarget({ profile: 'nope' }, { TEMPORAL_CONFIG_FILE: toml })).toThrow(TemporalConfigError);
    expect(() => resolveTemporalTarget({}, { TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' })).toThrow(/TEMPORAL_TLS_SERVER_NAME instead/);
    expect(() => resolveTemporalTarget({}, { TEMPORAL_TLS_CLIENT_KEY_PATH: pems.key })).toThrow(/a client certificate needs its key and a key its certificate/);
    expect(() => resolveTemporalTarget({ tlsCertPath: join(dir, 'gone.crt'), tlsKeyPath: pems.key }, {})).toThrow(/Temporal TLS: .*gone\.crt/);
  });
});
