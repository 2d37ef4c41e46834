import { readFile } from 'node:fs/promises';

/**
 * The owners allowed to hold credentials, for the orphaned-owner rule: `ROTOR_ALLOWED_OWNERS`
 * (comma-separated) or a file named by `--allowed-owners` / `ROTOR_ALLOWED_OWNERS_FILE` (one per
 * line, `#` comments). Empty when neither is set: the rule is then off.
 */
export async function allowedOwners(options: { file?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string[]> {
  const env = options.env ?? process.env;
  const file = options.file ?? env.ROTOR_ALLOWED_OWNERS_FILE;
  const text = file ? await readFile(file, 'utf8') : (env.ROTOR_ALLOWED_OWNERS ?? '').replace(/,/g, '\n');
  return [...new Set(text.split('\n').map((line) => line.replace(/#.*/, '').trim()).filter(Boolean))];
}
