/**
 * The one redaction helper (lib/redact.ts), covering what each of its six former copies covered
 * (the providers' loops over raw secrets, the activities' and decommission's loops over materials),
 * the cases every copy missed (a secret inside another, JSON- and URL-encoded forms), and that each
 * caller still goes through it.
 */
import { describe, expect, it } from 'vitest';
import { Material } from '../../lib/material.js';
import { materialSecrets, redactedMessage, redactSecrets, REDACTED } from '../../lib/redact.js';
import { scrub } from '../../activities/index.js';
import { describeError as postgresError } from '../../providers/postgres-password/db.js';
import { describeError as mysqlError } from '../../providers/mysql-password/db.js';
import { awsFailure } from '../../providers/aws-shared.js';
import { gcpFailure } from '../../providers/gcp-shared.js';
import { azureFailure } from '../../providers/azure-shared.js';

const SECRET = 'correct-horse-battery-staple';

describe('redactSecrets: what the providers\' copies did', () => {
  it('replaces every occurrence of every secret', () => {
    expect(redactSecrets(`a ${SECRET} b ${SECRET} c hunter22`, [SECRET, 'hunter22'])).toBe(`a ${REDACTED} b ${REDACTED} c ${REDACTED}`);
  });

  it('ignores empty secrets (an unset optional value) instead of garbling the text', () => {
    expect(redactSecrets('nothing secret here', ['', SECRET])).toBe('nothing secret here');
  });

  it('redactedMessage takes the message of an Error or the text of anything thrown', () => {
    expect(redactedMessage(new Error(`bad ${SECRET}`), [SECRET])).toBe(`bad ${REDACTED}`);
    expect(redactedMessage(`bad ${SECRET}`, [SECRET])).toBe(`bad ${REDACTED}`);
  });
});

describe('redactSecrets: what every copy missed', () => {
  it('a secret that contains another is redacted whole, not left half visible', () => {
    // The old loops replaced in the order given: "pass" first left "[redacted]word-9f2c" behind.
    expect(redactSecrets('login with password-9f2c failed', ['pass', 'password-9f2c'])).toBe(`login with ${REDACTED} failed`);
  });

  it('the form a secret takes inside a JSON string is redacted', () => {
    const secret = 'p"a\\ss\nword';
    const body = JSON.stringify({ error: 'rejected', password: secret });
    expect(redactSecrets(`HTTP 400: ${body}`, [secret])).not.toContain('a\\\\ss');
    expect(redactSecrets(`HTTP 400: ${body}`, [secret])).toBe(`HTTP 400: {"error":"rejected","password":"${REDACTED}"}`);
  });

  it('the form a secret takes inside a URL is redacted', () => {
    const secret = 'p@ss/w rd:1';
    expect(redactSecrets(`connect postgres://app:${encodeURIComponent(secret)}@db:5432/app refused`, [secret])).toBe(`connect postgres://app:${REDACTED}@db:5432/app refused`);
  });
});

describe('materialSecrets: what the activities\' and decommission\'s copies did', () => {
  const material = new Material('app_a', { username: 'app_a', password: SECRET, port: '543' });

  it('every field but the public id, and nothing shorter than 4 characters', () => {
    expect(materialSecrets([material])).toEqual([SECRET]);
    expect(redactSecrets(`ALTER ROLE app_a failed near '${SECRET}' on port 543`, materialSecrets([material]))).toBe(`ALTER ROLE app_a failed near '${REDACTED}' on port 543`);
  });

  it('covers every field of every material handled', () => {
    const aws = new Material('AKIAEXAMPLE', { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG' });
    expect(redactSecrets('old wJalrXUtnFEMI/K7MDENG new correct-horse-battery-staple', materialSecrets([aws, material]))).toBe(`old ${REDACTED} new ${REDACTED}`);
  });
});

describe('every former copy now goes through the helper', () => {
  // One nested secret and one URL-encoded one: each caller would leak a piece with its old loop.
  const secrets = ['pass', 'password-9f2c', 'p@ss/w rd:1'];
  const raw = `failed for password-9f2c at postgres://a:${encodeURIComponent('p@ss/w rd:1')}@h`;
  const clean = `failed for ${REDACTED} at postgres://a:${REDACTED}@h`;

  it.each([
    ['postgres-password describeError', () => postgresError(new Error(raw), secrets)],
    ['mysql-password describeError', () => mysqlError(new Error(raw), secrets)],
    ['aws awsFailure', () => awsFailure('x', new Error(raw), secrets).message],
    ['gcp gcpFailure', () => gcpFailure('x', new Error(raw), secrets).message],
    ['azure azureFailure', () => azureFailure('x', new Error(raw), secrets).message],
  ])('%s', (_name, run) => {
    const text = run();
    expect(text).toContain(clean);
    for (const s of secrets.slice(1)) expect(text).not.toContain(s);
    expect(text).not.toContain('word-9f2c');
  });

  it('activities scrub', () => {
    const material = new Material('app_a', { other: 'pass', username: 'app_a', password: 'password-9f2c' });
    expect(scrub('failed for password-9f2c', [material])).toBe(`failed for ${REDACTED}`);
  });
});
