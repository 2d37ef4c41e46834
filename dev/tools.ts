/**
 * Where the set-up step (scripts/setup-tools.mjs, run by `npm test` and `npm run setup`) put the
 * tools beyond npm: `.tools/` in the checkout, or ROTOR_TOOLS_DIR. Read by `rotor dev` and the tests.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const toolsDir = process.env.ROTOR_TOOLS_DIR ? resolve(process.env.ROTOR_TOOLS_DIR) : join(root, '.tools');

/** The path of a tool installed by the set-up step, or an error naming how to install it. */
export function toolPath(name: string, relative = join('bin', name)): string {
  const path = join(toolsDir, relative);
  if (!existsSync(path)) {
    throw new Error(`${name} is not installed at ${path}: run \`node scripts/setup-tools.mjs ${name}\` (npm test runs it)`);
  }
  return path;
}
