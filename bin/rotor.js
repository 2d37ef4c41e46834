#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so the daemon needs no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../cli/main.ts');
process.exitCode = await runCli(process.argv.slice(2));
