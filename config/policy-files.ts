/**
 * Which files of a policy directory are policies, and reading them as checked text.
 *
 * The walk skips hidden files and directories (`.git/`, an editor's `.swp`, and the kubelet's
 * `..data` / `..2026_01_01_…` directories of a mounted ConfigMap), takes `*.yaml` / `*.yml` in any
 * case, and follows symbolic links whose target stays inside the policy directory: a mounted
 * ConfigMap's `payments.yaml -> ..data/payments.yaml` is read once, through the name the user
 * wrote. A link that leaves the directory is refused by name, so a policy directory cannot pull
 * in files its writers do not control.
 */
import { constants } from 'node:fs';
import { lstat, open, readdir, readlink, realpath, stat } from 'node:fs/promises';
import { join, relative, isAbsolute, sep } from 'node:path';
import type { PolicyProblem } from './problems.js';

/** Files larger than this are refused before parsing: a policy is a page of YAML, not a data set. */
export const MAX_POLICY_FILE_BYTES = 256 * 1024;
/** Directory levels below the policy directory: deeper trees are refused, never walked. */
const MAX_DIRECTORY_DEPTH = 16;

const POLICY_EXTENSION = /\.ya?ml$/i;

/** One policy file: the name it is reported under, and the real file behind it. */
export interface PolicyFile {
  file: string;
  real: string;
}

/** True for names the walk never reads: hidden files and directories. */
export function isHidden(name: string): boolean {
  return name.startsWith('.');
}

/**
 * The policy files under `target` (a file or a directory), sorted by name, each real file once.
 * Problems (links that leave the directory, dangling links, non-regular files) go to `problems`.
 * `walked`, when given, receives each directory walked: its real path and the name it was walked under.
 */
export async function listPolicyFiles(target: string, problems: PolicyProblem[], walked?: Map<string, string>): Promise<PolicyFile[]> {
  const info = await stat(target).catch(() => undefined);
  if (!info) {
    problems.push({ file: target, path: '', message: 'no such file or directory' });
    return [];
  }
  const rootReal = await realpath(target);
  if (info.isFile()) return [{ file: target, real: rootReal }];
  const found: PolicyFile[] = [];
  const seenReal = new Set<string>();
  const seenDirs = new Set<string>([rootReal]);

  // `dirReal` is `dir` with every link resolved: a plain entry's real path is then dirReal/name, no
  // realpath call per file (a directory of 10,000 files lists in milliseconds).
  const walk = async (dir: string, dirReal: string, depth: number): Promise<void> => {
    walked?.set(dirReal, dir);
    let entries;
    try {
      entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (error) {
      problems.push({ file: dir, path: '', message: `cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})` });
      return;
    }
    for (const entry of entries) {
      if (isHidden(entry.name)) continue;
      const file = join(dir, entry.name);
      let kind: 'file' | 'dir' | 'other' = entry.isFile() ? 'file' : entry.isDirectory() ? 'dir' : 'other';
      let real = file;
      if (entry.isSymbolicLink()) {
        const resolved = await realpath(file).catch(() => undefined);
        if (!resolved) {
          if (POLICY_EXTENSION.test(entry.name)) problems.push({ file, path: '', message: 'is a symbolic link to nothing (dangling)' });
          continue;
        }
        if (!inside(rootReal, resolved)) {
          const to = await readlink(file).catch(() => resolved);
          problems.push({ file, path: '', message: `is a symbolic link to ${to}, outside the policy directory: links may only point inside it` });
          continue;
        }
        real = resolved;
        const targetInfo = await stat(resolved);
        kind = targetInfo.isFile() ? 'file' : targetInfo.isDirectory() ? 'dir' : 'other';
      }
      if (kind === 'dir') {
        const realDir = real === file ? join(dirReal, entry.name) : real;
        if (seenDirs.has(realDir)) continue; // a link back up the tree, or a second name of one directory
        if (depth >= MAX_DIRECTORY_DEPTH) {
          problems.push({ file, path: '', message: `is nested more than ${MAX_DIRECTORY_DEPTH} directories deep: policy directories are limited to ${MAX_DIRECTORY_DEPTH}` });
          continue;
        }
        seenDirs.add(realDir);
        await walk(file, realDir, depth + 1);
        continue;
      }
      if (!POLICY_EXTENSION.test(entry.name)) continue;
      if (kind === 'other') {
        problems.push({ file, path: '', message: 'is not a regular file (a FIFO, socket or device): policy files must be regular files' });
        continue;
      }
      const realFile = real === file ? join(dirReal, entry.name) : real;
      if (seenReal.has(realFile)) continue; // the same file under a second name
      seenReal.add(realFile);
      found.push({ file, real: realFile });
    }
  };
  await walk(target, rootReal, 0);
  return found;
}

/**
 * What the entry `name` of a walked directory (`dir`, whose real path is `dirReal`) is now, for a
 * reload that re-checks only the entries a watcher named: a policy file; 'none' when the walk
 * would take nothing from it (gone, hidden, not *.yaml / *.yml); 'walk' when only the walk can
 * tell (a directory, a link, anything but a regular file).
 */
export async function policyEntry(dir: string, dirReal: string, name: string): Promise<PolicyFile | 'none' | 'walk'> {
  const real = join(dirReal, name);
  const info = await lstat(real).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? 'gone' : 'walk'));
  if (info === 'gone') return 'none';
  if (info === 'walk' || !info.isFile()) return 'walk';
  if (isHidden(name) || !POLICY_EXTENSION.test(name)) return 'none';
  return { file: join(dir, name), real };
}

/** Compares two files in the walk's order: directory by directory, each sorted by name. */
export function walkOrder(a: string, b: string): number {
  const x = a.split(sep);
  const y = b.split(sep);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The text of one policy file, or undefined with a problem: larger than MAX_POLICY_FILE_BYTES,
 * not valid UTF-8, or holding a NUL character (each named with its line).
 */
export async function readPolicyFile({ file, real }: PolicyFile, problems: PolicyProblem[]): Promise<string | undefined> {
  // Opened non-blocking, then checked on the open file: a FIFO put in place of a policy never hangs
  // the open, and what is checked is what is read.
  const handle = await open(real, constants.O_RDONLY | constants.O_NONBLOCK);
  let bytes: Buffer;
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      problems.push({ file, path: '', message: 'is not a regular file: policy files must be regular files' });
      return undefined;
    }
    if (info.size > MAX_POLICY_FILE_BYTES) {
      problems.push({ file, path: '', message: `file is ${info.size} bytes; policy files are limited to ${MAX_POLICY_FILE_BYTES}` });
      return undefined;
    }
    // Read at most one byte over the limit: the file may grow between stat and read.
    const buffer = Buffer.allocUnsafe(info.size + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = (await handle.read(buffer, length, buffer.length - length, length)).bytesRead;
    bytes = buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
  if (bytes.length > MAX_POLICY_FILE_BYTES) {
    problems.push({ file, path: '', message: `file is over ${MAX_POLICY_FILE_BYTES} bytes; policy files are limited to ${MAX_POLICY_FILE_BYTES}` });
    return undefined;
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    problems.push({ file, path: '', line: firstInvalidUtf8Line(bytes), message: 'is not valid UTF-8: policy files must be UTF-8 text' });
    return undefined;
  }
  const nul = text.indexOf('\0');
  if (nul >= 0) {
    problems.push({ file, path: '', line: lineAt(text, nul), message: 'holds a NUL character: policy files must be text' });
    return undefined;
  }
  return text;
}

/** A newline byte is never part of a multi-byte UTF-8 sequence, so lines can be checked one by one. */
function firstInvalidUtf8Line(bytes: Buffer): number {
  let line = 1;
  let start = 0;
  for (;;) {
    const end = bytes.indexOf(0x0a, start);
    const slice = bytes.subarray(start, end < 0 ? bytes.length : end);
    try {
      utf8.decode(slice);
    } catch {
      return line;
    }
    if (end < 0) return line;
    start = end + 1;
    line++;
  }
}

function lineAt(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
