#!/usr/bin/env node
// The image runs the JavaScript its build compiled next to the sources (see the Dockerfile); a
// checkout has no compiled files and runs the TypeScript through tsx, so development needs no build.
// tsx's loader costs each process about 110 MB, which is why the image does not use it.
import { existsSync } from 'node:fs';

const compiled = new URL('../cli/main.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const tsx = await import('tsx/esm/api').catch(() => undefined);
  if (!tsx) {
    console.error('rotor: this checkout runs its TypeScript through tsx, a dev dependency that is not installed: run `npm ci` (without --omit=dev), or run the image');
    process.exit(2);
  }
  tsx.register();
  cli = await import('../cli/main.ts');
}
process.exitCode = await cli.runCli(process.argv.slice(2));
