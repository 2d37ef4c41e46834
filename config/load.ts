import { readdir, readFile, stat } from 'node:fs/promises';
import { join, extname } from 'node:path';
import { LineCounter, parseAllDocuments, isMap, isSeq, type Document } from 'yaml';
import type { z } from 'zod';
import { PolicySchema, type Policy } from './policy.js';
import { quotedTypeName } from './secret-ref.js';
import { isDiscoveryDocument, parseDiscoveryDocument } from './discovery.js';
import { isManualCredentialDocument, parseManualCredentialDocument, type ManualCredential } from './manual-credential.js';

/** What the loader needs to know of the providers: their spec schemas and a few facts. */
export interface ProviderCatalog {
  credential(type: string): { spec: z.ZodType; strategies: ReadonlyArray<'dual' | 'single'>; defaultEvery: string } | undefined;
  store(type: string): { spec: z.ZodType; primary: boolean } | undefined;
  credentialTypes(): string[];
  storeTypes(): string[];
}

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

export function formatProblem(p: PolicyProblem): string {
  return `${p.file}${p.line ? `:${p.line}` : ''}: ${p.path || '(file)'}: ${p.message}`;
}

/** Files larger than this are refused before parsing: a policy is a page of YAML, not a data set. */
export const MAX_POLICY_FILE_BYTES = 256 * 1024;
/** Aliases allowed per file: stops "billion laughs" expansion. */
const MAX_ALIASES = 50;

/**
 * Patterns of real secret values, refused wherever they appear in a policy: secrets are referenced
 * (env:, file:, vault:), never written in a file that lives in git.
 */
const INLINE_SECRET_PATTERNS: Array<[RegExp, string]> = [
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a private key'],
  [/\bgh[pousr]_[A-Za-z0-9]{30,}\b/, 'a GitHub token'],
  [/\bgithub_pat_[A-Za-z0-9_]{30,}\b/, 'a GitHub token'],
  [/\bglpat-[A-Za-z0-9_-]{20,}\b/, 'a GitLab token'],
  [/\bxox[baprs]-[A-Za-z0-9-]{10,}\b/, 'a Slack token'],
  [/^[A-Za-z0-9+/]{40}$/, 'an AWS secret access key'],
];

/** Keys whose values must be secret references wherever they appear. */
const SECRET_KEYS = /^(password|secret|token|clientSecret|privateKey|secretAccessKey|apiKey)$/i;

/** A manual credential as declared, with the file it came from. */
export type DeclaredManualCredential = ManualCredential & { source: { file: string } };

/** What a policy directory declares: rotation policies and credentials Rotor can only remind of. */
export interface PolicyDirectory {
  policies: Policy[];
  manual: DeclaredManualCredential[];
}

/**
 * Loads and validates every policy under `target` (a file or a directory of .yaml/.yml files).
 * All-or-nothing: any problem in any file refuses the whole set, listing every problem found.
 */
export async function loadPolicies(target: string, catalog: ProviderCatalog): Promise<Policy[]> {
  return (await loadPolicyDirectory(target, catalog)).policies;
}

/** loadPolicies, plus the `kind: manual-credential` documents (config/manual-credential.ts). */
export async function loadPolicyDirectory(target: string, catalog: ProviderCatalog): Promise<PolicyDirectory> {
  const files = await policyFiles(target);
  const problems: PolicyProblem[] = [];
  const found: PolicyDirectory = { policies: [], manual: [] };
  for (const file of files) {
    const text = await readPolicyFile(file, problems);
    if (text !== undefined) found.policies.push(...parsePolicyText(text, file, catalog, problems, found.manual));
  }
  const seen = new Map<string, string>();
  for (const { id, source } of [...found.policies, ...found.manual]) {
    const earlier = seen.get(id);
    if (earlier) problems.push({ file: source.file, path: 'id', message: `credential id "${id}" is already declared in ${earlier}` });
    seen.set(id, source.file);
  }
  if (files.length === 0) problems.push({ file: target, path: '', message: 'no policy files (*.yaml, *.yml) found' });
  if (problems.length > 0) throw new PolicyLoadError(problems);
  return found;
}

export async function policyFiles(target: string): Promise<string[]> {
  const info = await stat(target).catch(() => undefined);
  if (!info) throw new PolicyLoadError([{ file: target, path: '', message: 'no such file or directory' }]);
  if (info.isFile()) return [target];
  const entries = await readdir(target, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && ['.yaml', '.yml'].includes(extname(e.name)))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

async function readPolicyFile(file: string, problems: PolicyProblem[]): Promise<string | undefined> {
  const size = (await stat(file)).size;
  if (size > MAX_POLICY_FILE_BYTES) {
    problems.push({ file, path: '', message: `file is ${size} bytes; policy files are limited to ${MAX_POLICY_FILE_BYTES}` });
    return undefined;
  }
  return readFile(file, 'utf8');
}

/**
 * Parses the YAML text of one file into policies, adding any problems to `problems` and any
 * manual credentials to `manual`.
 */
export function parsePolicyText(
  text: string,
  file: string,
  catalog: ProviderCatalog,
  problems: PolicyProblem[],
  manual: DeclaredManualCredential[] = [],
): Policy[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  const policies: Policy[] = [];
  let index = 0;
  for (const doc of docs) {
    const lineOf = (path: PropertyKey[]) => nodeLine(doc, path, lineCounter);
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push({ file, path: '', line: e.linePos?.[0]?.line, message: `YAML: ${e.message.split('\n')[0]}` });
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIASES });
    } catch (error) {
      problems.push({ file, path: '', message: `YAML: ${(error as Error).message}` });
      continue;
    }
    if (value === null || value === undefined) continue; // an empty document, e.g. after a trailing ---
    // Other kinds of document (discovery targets, manual credentials) are checked here too, so a bad
    // one refuses the set, and never hold a secret value either.
    if (isDiscoveryDocument(value) || isManualCredentialDocument(value)) {
      const report: Report = (path, message) => problems.push({ file, path: formatPath(path), line: lineOf(path), message });
      scanForInlineSecrets(value, [], report);
      if (isDiscoveryDocument(value)) parseDiscoveryDocument(value, catalog, report);
      else {
        const credential = parseManualCredentialDocument(value, report);
        if (credential) manual.push({ ...credential, source: { file } });
      }
      continue;
    }
    const isList = typeof value === 'object' && !Array.isArray(value) && 'policies' in value && Object.keys(value).length === 1;
    const items: unknown[] = isList ? (value as { policies: unknown }).policies as unknown[] : [value];
    if (!Array.isArray(items)) {
      problems.push({ file, path: 'policies', line: lineOf(['policies']), message: 'must be a list of policies' });
      continue;
    }
    items.forEach((item, i) => {
      const prefix: PropertyKey[] = isList ? ['policies', i] : [];
      const report = (path: PropertyKey[], message: string) =>
        problems.push({ file, path: formatPath([...prefix, ...path]), line: lineOf([...prefix, ...path]), message });
      const policy = validatePolicy(item, catalog, report);
      if (policy) policies.push({ ...policy, source: { file, index: index } });
      index++;
    });
  }
  return policies;
}

type Report = (path: PropertyKey[], message: string) => void;

function validatePolicy(item: unknown, catalog: ProviderCatalog, report: Report): Omit<Policy, 'source'> | undefined {
  let problems = 0;
  const counting: Report = (path, message) => {
    problems++;
    report(path, message);
  };
  scanForInlineSecrets(item, [], counting);
  const parsed = PolicySchema.safeParse(item);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) counting(issue.path, issue.message);
    return undefined;
  }
  const p = parsed.data;
  const { type: credentialType, ...credentialFields } = p.credential;
  const credential = catalog.credential(credentialType);
  if (!credential) {
    counting(['credential', 'type'], `unknown credential type ${quotedTypeName(credentialType)}; known: ${catalog.credentialTypes().join(', ')}`);
    return undefined;
  }
  const credentialSpec = parseSpec(credential.spec, credentialFields, ['credential'], counting);
  const store = parseStore(p.store, ['store'], catalog, counting, true);
  const dependents = p.dependents.map((d, i) => {
    const { name, ...block } = d;
    const parsedStore = parseStore(block as { type: string }, ['dependents', i], catalog, counting, false);
    return parsedStore && { name, ...parsedStore };
  });
  const names = new Set<string>();
  p.dependents.forEach((d, i) => {
    if (names.has(d.name)) counting(['dependents', i, 'name'], `duplicate dependent name "${d.name}"`);
    names.add(d.name);
  });
  const strategy = p.strategy ?? credential.strategies[0]!;
  if (!credential.strategies.includes(strategy)) {
    counting(['strategy'], `${credentialType} supports ${credential.strategies.join(' or ')}, not ${strategy}`);
  }
  if (problems > 0 || !credentialSpec || !store || dependents.some((d) => !d)) return undefined;
  const schedule = { ...p.schedule, every: p.schedule.every ?? (p.schedule.cron ? undefined : credential.defaultEvery) };
  return {
    ...p,
    strategy,
    schedule,
    credential: { type: credentialType, spec: credentialSpec },
    store,
    dependents: dependents as Policy['dependents'],
  };
}

function parseStore(
  block: { type: string },
  path: PropertyKey[],
  catalog: ProviderCatalog,
  report: Report,
  asPrimary: boolean,
): { type: string; spec: Record<string, unknown> } | undefined {
  const { type, ...fields } = block;
  const store = catalog.store(type);
  if (!store) {
    report([...path, 'type'], `unknown store type ${quotedTypeName(type)}; known: ${catalog.storeTypes().join(', ')}`);
    return undefined;
  }
  if (asPrimary && !store.primary) {
    report([...path, 'type'], `${type} cannot be a primary store (it cannot hold pending material)`);
    return undefined;
  }
  const spec = parseSpec(store.spec, fields, path, report);
  return spec && { type, spec };
}

function parseSpec(schema: z.ZodType, fields: unknown, path: PropertyKey[], report: Report): Record<string, unknown> | undefined {
  const parsed = schema.safeParse(fields);
  if (parsed.success) return parsed.data as Record<string, unknown>;
  for (const issue of parsed.error.issues) report([...path, ...issue.path], issue.message);
  return undefined;
}

/** Refuses values that look like real secrets, and plain values under secret-named keys. */
function scanForInlineSecrets(value: unknown, path: PropertyKey[], report: Report): void {
  if (typeof value === 'string') {
    const hit = INLINE_SECRET_PATTERNS.find(([pattern]) => pattern.test(value));
    const key = path[path.length - 1];
    if (hit) report(path, `looks like ${hit[1]}: never write secret values in a policy; use a secret reference (env:NAME, file:/path, vault:mount/path#key)`);
    else if (typeof key === 'string' && SECRET_KEYS.test(key) && !/^(env|file|vault):/.test(value)) {
      report(path, 'must be a secret reference (env:NAME, file:/path or vault:mount/path#key); secret values are never written in policy files');
    }
    return;
  }
  if (Array.isArray(value)) value.forEach((v, i) => scanForInlineSecrets(v, [...path, i], report));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) scanForInlineSecrets(v, [...path, k], report);
  }
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

/** 1-based line of the YAML node at `path`, or of its nearest existing parent. */
function nodeLine(doc: Document, path: PropertyKey[], lineCounter: LineCounter): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true);
    if (node && typeof node === 'object' && 'range' in node && Array.isArray(node.range)) {
      // For a missing key, point at the map that should hold it.
      if (depth < path.length && !(isMap(node) || isSeq(node))) continue;
      return lineCounter.linePos(node.range[0] as number).line;
    }
  }
  return undefined;
}
