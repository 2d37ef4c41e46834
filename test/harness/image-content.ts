/**
 * The image's content without Docker, as the Dockerfile makes it: what `npm pack` packs (package.json's
 * `files`), compiled to JavaScript in place of its TypeScript, plus the lockfile, production
 * dependencies only, and the workflow bundle the image builds. test/production/image-content.test.ts
 * runs Rotor from it; the `workers` benchmark measures the worker as the image runs it.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repo = resolve(import.meta.dirname, '../..');
export const dockerfile = readFileSync(join(repo, 'Dockerfile'), 'utf8');
/** The environment the image sets (its runtime stage's `ENV` lines): a process "in the image" runs with it. */
export const imageEnv: Record<string, string> = Object.fromEntries(
  [...dockerfile.split(/^FROM /m).at(-1)!.matchAll(/^ENV (\w+)=("[^"]*"|\S+)$/gm)].map(([, name, value]) => [name!, value!.replace(/^"|"$/g, '')]),
);
/** Where the image's build writes the workflow bundle (`rotor bundle-workflows <path>`), if it does. */
export const bundleInImage = /bin\/rotor\.js bundle-workflows (\/app\/\S+)/.exec(dockerfile)?.[1];

/** The compiler's arguments in the Dockerfile's pack stage, with its output folder at `outDir`. */
function compileArgs(outDir: string): string[] {
  const line = /npx tsc (.*) \\$/m.exec(dockerfile)?.[1];
  if (!line) throw new Error('the Dockerfile compiles with `npx tsc …` no longer: the harness assembles the image as it did');
  return line.replace('/out/package', outDir).split(' ');
}

export interface ImageContent {
  /** Where the image's /app would be. */
  app: string;
  /** The workflow bundle built into it, if the Dockerfile builds one. */
  bundle: string | undefined;
}

/** Assembles the image's content under `into` (a fresh temp dir, which the caller removes). */
export async function assembleImageContent(into: string): Promise<ImageContent> {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', into], { cwd: repo });
  const [{ filename }] = JSON.parse(stdout) as Array<{ filename: string }>;
  await run('tar', ['-xzf', join(into, filename!), '-C', into]);
  const app = join(into, 'package');
  // The image runs JavaScript: compiled over the packed sources, which are then removed.
  await run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), ...compileArgs(app)], { cwd: repo, timeout: 300_000 });
  await run('find', [app, '-name', '*.ts', '-delete']);
  await copyFile(join(repo, 'package-lock.json'), join(app, 'package-lock.json'));
  await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, env: { ...process.env, NODE_ENV: 'production' }, timeout: 600_000 });
  // The image's build step, from production dependencies only.
  const bundle = bundleInImage ? join(app, bundleInImage.slice('/app/'.length)) : undefined;
  if (bundle) await run(process.execPath, ['bin/rotor.js', 'bundle-workflows', bundle], { cwd: app, env: { PATH: process.env.PATH!, HOME: into, ...imageEnv }, timeout: 300_000 });
  return { app, bundle };
}
