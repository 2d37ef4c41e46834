import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Material, fingerprintValue } from '../../lib/material.js';
import { scrub } from '../../activities/index.js';
import { createLogger } from '../../lib/logger.js';
import { Writable } from 'node:stream';

const SECRET = 'correct-horse-battery-staple';

describe('Material', () => {
  const material = new Material('app_a', { username: 'app_a', password: SECRET });

  it('never serialises its secret fields', () => {
    for (const text of [JSON.stringify(material), inspect(material), `${material}`, JSON.stringify({ nested: [material] })]) {
      expect(text).not.toContain(SECRET);
    }
    expect(JSON.stringify(material)).toContain('app_a');
  });

  it('reveals a field by name and refuses a missing one', () => {
    expect(material.reveal('password')).toBe(SECRET);
    expect(() => material.reveal('passwd')).toThrow(/no field "passwd"/);
  });

  it('fingerprints by content: same fields, same fingerprint; any change, another', () => {
    const same = new Material('other-id', { password: SECRET, username: 'app_a' });
    const changed = new Material('app_a', { username: 'app_a', password: `${SECRET}!` });
    expect(material.fingerprint()).toBe(same.fingerprint());
    expect(material.fingerprint()).not.toBe(changed.fingerprint());
    expect(material.fingerprint()).not.toContain(SECRET);
    expect(fingerprintValue(SECRET)).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('scrub removes every secret value a step handled from an error message', () => {
    const message = `ALTER ROLE failed near '${SECRET}' for app_a`;
    expect(scrub(message, [material])).toBe(`ALTER ROLE failed near '[redacted]' for app_a`);
  });

  it('the logger redacts secret-named keys and Material objects', () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: 'info',
      destination: new Writable({ write: (chunk, _e, done) => (lines.push(String(chunk)), done()) }),
    });
    logger.info({ password: SECRET, nested: { token: SECRET }, material }, 'rotating');
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(SECRET);
    expect(lines[0]).toContain('[redacted]');
  });
});
