/**
 * docker-compose.yml's shape, checked without a Docker engine (none runs in CI): images pinned and
 * maintained (no temporalio/auto-setup, no tctl), Temporal at the version the tests run, every
 * depends_on condition satisfiable, ports on 127.0.0.1 only, data on named volumes, Rotor built from
 * the Dockerfile that image-content.test.ts proves, and secrets passed as references, never values.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- plain JavaScript set-up script, no types: only its pinned versions are read.
import { versions } from '../../scripts/setup-tools.mjs';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../../dev/temporal.js';
import { chartMemoryLimit, memoryBytes } from '../harness/chart.js';

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string } | string;
  command?: string[] | string;
  entrypoint?: string[] | string;
  restart?: string;
  environment?: Record<string, string> | string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] | string };
  mem_limit?: string;
}

const repo = resolve(import.meta.dirname, '../..');
const text = readFileSync(join(repo, 'docker-compose.yml'), 'utf8');
const compose = parse(text) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = Object.entries(compose.services);
const env = (s: Service): Record<string, string> =>
  Array.isArray(s.environment) ? Object.fromEntries(s.environment.map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string])) : (s.environment ?? {});
const words = (v: string[] | string | undefined) => (Array.isArray(v) ? v.join(' ') : (v ?? ''));

describe('docker-compose.yml', () => {
  it('runs images pinned to a full version, none deprecated, and no tctl', () => {
    for (const [name, s] of services) {
      if (!s.image) continue;
      // rotor:local is the image built here from the Dockerfile.
      if (s.build) continue;
      // PostgreSQL's full versions have two parts (16.10); everything else three.
      const full = s.image.startsWith('postgres:') ? /^postgres:\d+\.\d+(-[\w.-]+)?$/ : /^[\w./-]+:\d+\.\d+\.\d+(-[\w.-]+)?$/;
      expect(s.image, name).toMatch(s.image.includes('@sha256:') ? /@sha256:[0-9a-f]{64}$/ : full);
    }
    expect(text).not.toMatch(/temporalio\/auto-setup/);
    expect(text).not.toMatch(/\btctl\b/);
  });

  it('runs Temporal\'s dev server at the CLI version the tests pin, health-checked with the temporal CLI', () => {
    const temporal = compose.services.temporal!;
    expect(`v${temporal.image!.split(':')[1]}`).toBe((versions as { temporalCli: string }).temporalCli);
    expect(temporal.image).toMatch(/^temporalio\/temporal:/);
    expect(words(temporal.command)).toMatch(/^server start-dev /);
    // The same dynamic config as every dev server Rotor starts itself.
    const command = temporal.command as string[];
    const values = command.flatMap((word, i) => (command[i - 1] === '--dynamic-config-value' ? [word] : []));
    expect(values).toEqual(DEV_SERVER_DYNAMIC_CONFIG);
    expect(temporal.healthcheck?.test).toEqual(['CMD', 'temporal', 'operator', 'cluster', 'health', '--address', '127.0.0.1:7233']);
  });

  it('waits only on what can be met: service_healthy on a health-checked service, service_completed_successfully on a one-shot', () => {
    const conditions = services.flatMap(([name, s]) => {
      if (!s.depends_on) return [];
      expect(Array.isArray(s.depends_on), `${name}: depends_on with conditions`).toBe(false);
      return Object.entries(s.depends_on as Record<string, { condition: string }>).map(([on, { condition }]) => ({ name, on, condition }));
    });
    expect(conditions.length).toBeGreaterThan(5);
    for (const { name, on, condition } of conditions) {
      const target = compose.services[on];
      expect(target, `${name} waits on unknown ${on}`).toBeDefined();
      if (condition === 'service_healthy') expect(target!.healthcheck, `${name} waits for ${on} to be healthy`).toBeDefined();
      else if (condition === 'service_completed_successfully') {
        // A one-shot exits: it is never restarted unconditionally and serves nothing.
        expect(['no', undefined], `${on} is a one-shot`).toContain(target!.restart);
        expect(target!.ports, `${on} is a one-shot`).toBeUndefined();
        expect(target!.healthcheck, `${on} is a one-shot`).toBeUndefined();
      } else expect(condition, `${name} → ${on}`).toBe('service_started');
    }
    // Rotor starts only when Temporal, its store, the demo database and Vault are healthy.
    const rotorWaits = conditions.filter((c) => c.name === 'rotor' && c.condition === 'service_healthy').map((c) => c.on);
    expect(rotorWaits.sort()).toEqual(['demo-db', 'postgres', 'temporal', 'vault']);
  });

  it('binds every published port to 127.0.0.1', () => {
    const ports = services.flatMap(([, s]) => s.ports ?? []);
    expect(ports.length).toBeGreaterThan(0);
    for (const p of ports) expect(p).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
  });

  it('keeps Temporal\'s history, the store and the demo database on named volumes', () => {
    const named = new Set(Object.keys(compose.volumes ?? {}));
    for (const name of ['temporal', 'postgres', 'demo-db']) {
      const sources = (compose.services[name]!.volumes ?? []).map((v) => v.split(':')[0]!);
      expect(sources.some((source) => named.has(source)), name).toBe(true);
    }
  });

  it('builds Rotor from the Dockerfile, with a restart policy and a health check on /readyz', () => {
    const rotor = compose.services.rotor!;
    expect(rotor.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
    expect(readFileSync(join(repo, 'Dockerfile'), 'utf8')).toMatch(/npm pack/);
    expect(rotor.restart).toBe('unless-stopped');
    expect(words(rotor.healthcheck?.test)).toMatch(/\/readyz/);
  });

  it('limits Rotor\'s memory as the Helm chart limits its pod (Node sizes its heap from the limit)', () => {
    expect(memoryBytes(compose.services.rotor!.mem_limit)).toBe(chartMemoryLimit().bytes);
    expect(chartMemoryLimit().bytes).toBe(2 ** 30);
  });

  it('passes secrets as references (files, file:/env: references), never as values', () => {
    const secretName = /PASSWORD|PASSWD|PWD|TOKEN|SECRET|API_KEY|PRIVATE/i;
    for (const [name, s] of services) {
      for (const [key, value] of Object.entries(env(s))) {
        if (secretName.test(key)) {
          expect(`${name}.${key}=${value}`).toMatch(/(_FILE|_REF)=|=(file|env):\//);
        }
        // No password inside a URL.
        expect(String(value), `${name}.${key}`).not.toMatch(/:\/\/[^/@\s]+:[^/@\s]+@/);
      }
      // Nor on a command line (e.g. -dev-root-token-id=literal).
      expect(`${words(s.command)} ${words(s.entrypoint)}`, name).not.toMatch(/(token|password|secret)[-_\w]*=(?!["']?\$)/i);
    }
    expect(text).not.toMatch(/demo-only|POSTGRES_PASSWORD:|VAULT_DEV_ROOT_TOKEN_ID/);
  });
});
