/**
 * Issue 14 item 7: the inline-secret check also catches a password in a URL's user-info (in a
 * health check, a store address, anywhere) and `key=<AWS secret access key>` forms; the refusal
 * names the place, never the value.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatProblem, loadPolicies } from '../../config/load.js';
import { registry } from '../../providers/registry.js';
import { refusal, tempDir, validPolicy } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
beforeEach(async () => ({ dir, remove } = await tempDir('rotor-inline-')));
afterEach(() => remove());

/** A made-up secret access key in the AWS format, built at run time so no file holds one. */
const awsSecret = ['wJalrXUtnFEMI', 'K7MDENG', 'bPxRfiCYzEXAMPLEKEY0'].join('/').slice(0, 40);
const password = ['s3cr3t', 'Passw0rd'].join('-');

describe('inline secrets in URLs and key=value text', () => {
  it('refuses a password in a health check URL', async () => {
    await writeFile(join(dir, 'p.yaml'), validPolicy('payments-db', `healthChecks:\n  - name: api\n    http: { url: "https://admin:${password}@payments.internal/healthz" }\n`));
    const problems = await refusal(dir);
    expect(problems).toEqual([expect.objectContaining({ path: 'healthChecks[0].http.url', line: 20, message: expect.stringMatching(/URL with a password/) })]);
    expect(problems.map(formatProblem).join('\n')).not.toContain(password);
  });

  it('refuses a password in a store address', async () => {
    await writeFile(join(dir, 'p.yaml'), validPolicy().replace('address: http://127.0.0.1:8200', `address: http://rotor:${password}@127.0.0.1:8200`));
    expect(await refusal(dir)).toEqual([expect.objectContaining({ path: 'store.address', line: 15, message: expect.stringMatching(/URL with a password/) })]);
  });

  it.each([`aws_secret_access_key=${awsSecret}`, `key = ${awsSecret}`, `https://example.com/hook?secret=${awsSecret}&x=1`])('refuses %s in a free-text field', async (text) => {
    await writeFile(join(dir, 'p.yaml'), validPolicy().replace('purpose: Payments API login to the orders database', `purpose: "Payments login ${text}"`));
    const problems = await refusal(dir);
    expect(problems).toEqual([expect.objectContaining({ path: 'purpose', line: 3, message: expect.stringMatching(/AWS secret access key/) })]);
    expect(JSON.stringify(problems)).not.toContain(awsSecret);
  });

  it('still accepts URLs with a user but no password, and 40-digit commit ids', async () => {
    const commit = 'a'.repeat(20) + '0123456789abcdef0123';
    await writeFile(
      join(dir, 'p.yaml'),
      validPolicy('payments-db', `healthChecks:\n  - name: api\n    http: { url: "https://probe@payments.internal/healthz" }\n`).replace(
        'purpose: Payments API login to the orders database',
        `purpose: "Payments login, see ssh://git@git.internal/ops.git at commit=${commit}"`,
      ),
    );
    expect(await loadPolicies(dir, registry.catalog)).toHaveLength(1);
  });
});
