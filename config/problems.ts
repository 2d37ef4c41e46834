import { printable } from '../lib/printable.js';

/** One reason a policy file was refused: file, YAML path, line where known, and why. */
export interface PolicyProblem {
  file: string;
  path: string;
  line?: number;
  message: string;
}

export class PolicyLoadError extends Error {
  override readonly name = 'PolicyLoadError';
  constructor(readonly problems: PolicyProblem[]) {
    super(problems.map(formatProblem).join('\n'));
  }
}

/** One problem on one line; file names, paths and messages are made safe to print (lib/printable.ts). */
export function formatProblem(p: PolicyProblem): string {
  return printable(`${p.file}${p.line ? `:${p.line}` : ''}: ${p.path || '(file)'}: ${p.message}`);
}
