import { LineCounter, parseAllDocuments, isMap, isScalar, isSeq, type Document } from 'yaml';
import { CORE_SCHEMA, loadAll as loadAllYaml } from 'js-yaml';
import type { z } from 'zod';
import { PolicySchema, type Policy } from './policy.js';
import { quotedTypeName } from './secret-ref.js';
import { isDiscoveryDocument, parseDiscoveryDocument, type DiscoveryConfig } from './discovery.js';
import { isManualCredentialDocument, parseManualCredentialDocument, type ManualCredential } from './manual-credential.js';
import { stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { listPolicyFiles, policyEntry, readPolicyFile, walkOrder, type PolicyFile } from './policy-files.js';
import { operatorSettingsFromEnv, type OperatorSettings } from './operator.js';
import { isSecretRef, secretRefRefusal } from './secret-ref.js';
import { cronProblems, everyProblems } from './schedule.js';
import { knownKeys, nearest } from './suggest.js';
import { formatProblem, PolicyLoadError, type PolicyProblem } from './problems.js';
import type { ProviderCatalog } from '../providers/catalog.js';
import { capabilityProblems } from './capabilities.js';

export { MAX_POLICY_FILE_BYTES } from './policy-files.js';
export { formatProblem, PolicyLoadError, type PolicyProblem, type ProviderCatalog };

/** Aliases allowed per file: stops "billion laughs" expansion. */
const MAX_ALIASES = 50;
/** Nesting levels a document may have: a policy is a few levels deep; deeper is refused, not walked. */
export const MAX_NESTING = 64;

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
  // `aws_secret_access_key=…`, `secret: …`, `?key=…&`: 40 base64 characters after = or :, in mixed
  // case (a git commit id, 40 lower-case hex digits, is not one).
  [/(?:[=:]\s*["']?)(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])/, 'an AWS secret access key'],
  // A password in a URL's user-info: https://admin:…@host.
  [/\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s/?#@:]*:[^\s/?#@]+@/, 'a URL with a password in it (user:password@)'],
];
/** All the patterns as one: most values match none, and one scan of a value is cheaper than nine. */
const ANY_INLINE_SECRET = new RegExp(INLINE_SECRET_PATTERNS.map(([pattern]) => `(?:${pattern.source})`).join('|'));

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Keys whose values must be secret references wherever they appear. */
const SECRET_KEYS = /^(password|secret|token|clientSecret|privateKey|secretAccessKey|apiKey)$/i;

const SECRET_REF_HINT = 'use a secret reference (env:NAME, file:/path, vault:mount/path#key)';

/** A manual credential as declared, with the file it came from. */
export type DeclaredManualCredential = ManualCredential & { source: { file: string } };

/** What a policy directory declares: rotation policies and credentials Rotor can only remind of. */
export interface PolicyDirectory {
  policies: Policy[];
  manual: DeclaredManualCredential[];
}

/**
 * Everything read from a policy directory, valid or not: the valid documents, the `kind: discovery`
 * configurations, every problem, and which credential ids each file declares (valid or not).
 */
export interface PolicyInspection extends PolicyDirectory {
  discovery: DiscoveryConfig[];
  problems: PolicyProblem[];
  /** The problems of `kind: discovery` documents alone (also in `problems`). */
  discoveryProblems: PolicyProblem[];
  /** Every `id:` a document declares, whether or not the document is valid. */
  declared: Array<{ id: string; file: string }>;
}

export interface LoadOptions {
  /** The operator's settings (allowed secret references, minimum interval); default: from the environment. */
  settings?: OperatorSettings;
  /** Reuse the results of files unchanged since the last load with this cache (the daemon's reloads). */
  cache?: PolicyFileCache;
}

/**
 * Loads and validates every policy under `target` (a file or a directory of .yaml/.yml files).
 * All-or-nothing: any problem in any file refuses the whole set, listing every problem found.
 */
export async function loadPolicies(target: string, catalog: ProviderCatalog, options: LoadOptions = {}): Promise<Policy[]> {
  return (await loadPolicyDirectory(target, catalog, options)).policies;
}

/** loadPolicies, plus the `kind: manual-credential` documents (config/manual-credential.ts). */
export async function loadPolicyDirectory(target: string, catalog: ProviderCatalog, options: LoadOptions = {}): Promise<PolicyDirectory> {
  const { policies, manual, problems } = await inspectPolicyDirectory(target, catalog, options);
  if (problems.length > 0) throw new PolicyLoadError(problems);
  return { policies, manual };
}

/** Reads and checks the whole directory without refusing it: for callers that decide per credential. */
export async function inspectPolicyDirectory(target: string, catalog: ProviderCatalog, options: LoadOptions = {}): Promise<PolicyInspection> {
  const settings = options.settings ?? operatorSettingsFromEnv();
  const problems: PolicyProblem[] = [];
  const dirs = new Map<string, string>();
  const files = await listPolicyFiles(target, problems, dirs);
  const cache = options.cache?.forSettings(settings);
  const results = await mapConcurrently(files, READ_CONCURRENCY, (file) => (cache ? cache.read(file, catalog) : checkFile(file, catalog, settings)));
  cache?.keepOnly(files);
  // A walk without problems is one a later reload of named entries can patch (inspectChangedEntries).
  if (cache) cache.walk = problems.length === 0 ? countedWalk({ target, files, results, dirs, idCounts: new Map(), duplicateIds: 0, filesWithProblems: 0 }) : undefined;
  return inspection(target, files, results, problems);
}

/** A change a watcher saw: the entry `name` of the directory whose real path is `dir`. */
export interface ChangedEntry {
  dir: string;
  name: string;
}

/** What a reload of named entries found. */
export interface ChangedFiles {
  /** What the files that changed (re-read, new, removed) declared before, and what they declare now. */
  before: FileResult[];
  after: FileResult[];
  /** The problems of the whole directory now, as inspectPolicyDirectory gives them; none when it is valid. */
  problems: PolicyProblem[];
  manual: DeclaredManualCredential[];
  discovery: DiscoveryConfig[];
  /** The whole inspection (every policy, in walk order): built when asked, not on every reload. */
  inspection(): PolicyInspection;
}

/**
 * The daemon's reload after a watcher named the entries that changed: re-checks those entries only
 * and keeps every other file's last result, without listing the tree, stat-ing its files or
 * rebuilding the whole result (problems and duplicate ids are counted per file, so a valid result
 * is known as such from the files that changed). Says exactly what inspectPolicyDirectory would.
 * Undefined when the entries cannot pin the change down, and the caller walks the whole directory:
 * no earlier walk to patch, settings changed, an entry that is or was a directory, a link or a
 * link's target (a ConfigMap's `..data` swap, a renamed directory), or one outside the walked
 * directories.
 */
export async function inspectChangedEntries(
  target: string,
  catalog: ProviderCatalog,
  changed: ChangedEntry[],
  options: LoadOptions & { cache: PolicyFileCache },
): Promise<ChangedFiles | undefined> {
  const cache = options.cache.forSettings(options.settings ?? operatorSettingsFromEnv());
  const walk = cache.walk;
  if (!walk || walk.target !== target) return undefined;
  const reread = new Map<string, PolicyFile>();
  const removed = new Set<string>();
  for (const { dir, name } of changed) {
    const logicalDir = walk.dirs.get(dir);
    if (logicalDir === undefined) return undefined;
    const file = join(logicalDir, name);
    const real = join(dir, name);
    // A link to it, a link it was, or files under it (it was a directory): only a walk can tell what changed.
    const [fileDir, realDir] = [file + sep, real + sep];
    if (walk.dirs.has(real) || walk.files.some((f) => (f.file === file) !== (f.real === real) || f.file.startsWith(fileDir) || f.real.startsWith(realDir))) return undefined;
    const now = await policyEntry(logicalDir, dir, name);
    if (now === 'walk') return undefined;
    if (now === 'none') removed.add(file);
    else reread.set(file, now);
  }
  const next: PolicyWalk = { ...walk, files: [...walk.files], results: [...walk.results] };
  const before: FileResult[] = [];
  const after: FileResult[] = [];
  for (const file of removed) {
    const i = next.files.findIndex((f) => f.file === file);
    if (i < 0) continue;
    before.push(next.results[i]!);
    cache.forget(next.files[i]!);
    next.files.splice(i, 1);
    next.results.splice(i, 1);
  }
  for (const file of reread.values()) {
    const result = await cache.read(file, catalog);
    const i = next.files.findIndex((f) => f.file === file.file);
    if (i >= 0 && next.results[i] === result) continue; // unchanged since the last reload
    if (i >= 0) before.push(next.results[i]!);
    after.push(result);
    const at = i >= 0 ? i : insertionPoint(next.files, file.file);
    next.files.splice(at, i >= 0 ? 1 : 0, file);
    next.results.splice(at, i >= 0 ? 1 : 0, result);
  }
  count(next, before, -1);
  count(next, after, +1);
  cache.walk = next;
  const { files, results } = next;
  const whole = () => inspection(target, files, results, []);
  return {
    before,
    after,
    problems: next.duplicateIds > 0 || next.filesWithProblems > 0 || files.length === 0 ? whole().problems : [],
    manual: results.flatMap((r) => r.manual),
    discovery: results.flatMap((r) => r.discovery),
    inspection: whole,
  };
}

/** Where `file` goes among `files` (in walk order). */
function insertionPoint(files: PolicyFile[], file: string): number {
  let low = 0;
  let high = files.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (walkOrder(files[mid]!.file, file) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** A walk with its counts: how often each id is declared (a duplicate is refused), how many files have problems. */
function countedWalk(walk: PolicyWalk): PolicyWalk {
  count(walk, walk.results, +1);
  return walk;
}

function count(walk: PolicyWalk, results: FileResult[], by: 1 | -1): void {
  for (const r of results) {
    if (r.problems.length > 0) walk.filesWithProblems += by;
    for (const { id } of [...r.policies, ...r.manual]) {
      const n = (walk.idCounts.get(id) ?? 0) + by;
      if (by > 0 ? n === 2 : n === 1) walk.duplicateIds += by;
      if (n === 0) walk.idCounts.delete(id);
      else walk.idCounts.set(id, n);
    }
  }
}

/** The inspection of a directory from its files' results, in walk order: duplicate ids across files are refused here. */
function inspection(target: string, files: PolicyFile[], results: FileResult[], problems: PolicyProblem[]): PolicyInspection {
  const found: PolicyInspection = { policies: [], manual: [], discovery: [], problems: [], discoveryProblems: [], declared: [] };
  for (const r of results) {
    problems.push(...r.problems);
    for (const p of r.policies) found.policies.push(p);
    found.manual.push(...r.manual);
    found.discovery.push(...r.discovery);
    found.discoveryProblems.push(...r.discoveryProblems);
    for (const d of r.declared) found.declared.push(d);
  }
  const seen = new Map<string, string>();
  for (const { id, source } of [...found.policies, ...found.manual]) {
    const earlier = seen.get(id);
    if (earlier) problems.push({ file: source.file, path: 'id', message: `credential id "${id}" is already declared in ${earlier}` });
    seen.set(id, source.file);
  }
  if (files.length === 0 && problems.length === 0) problems.push({ file: target, path: '', message: 'no policy files (*.yaml, *.yml) found' });
  found.problems = uniqueProblems(problems);
  return found;
}

/** Files read and parsed at once: enough to keep the disk and the thread pool busy, bounded in memory. */
const READ_CONCURRENCY = 64;

/** What one file declares, valid or not: the part of a PolicyInspection that comes from it. */
export type FileResult = Omit<PolicyInspection, 'problems'> & { problems: PolicyProblem[] };

async function checkFile(file: PolicyFile, catalog: ProviderCatalog, settings: OperatorSettings): Promise<FileResult> {
  const r: FileResult = { policies: [], manual: [], discovery: [], problems: [], discoveryProblems: [], declared: [] };
  const text = await readPolicyFile(file, r.problems);
  if (text !== undefined) r.policies = parsePolicyText(text, file.file, catalog, r.problems, r.manual, { settings, into: r });
  return r;
}

/** `work` over `items`, at most `limit` at a time; results in the order of `items`. */
async function mapConcurrently<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await work(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * What the daemon keeps between reloads: each file's result, reused while the file's inode, size,
 * modification and change times are those it was read with, so a reload after one edit parses one
 * file. The change time (ctime) moves on every write and rename and cannot be set back by a user.
 * A change of operator settings starts afresh (they decide what is valid).
 */
export class PolicyFileCache {
  #entries = new Map<string, { stamp: string; result: FileResult }>();
  #settingsKey = '';
  #last: { walk?: PolicyWalk } = {};

  /** @internal the cache for one reload under `settings`. */
  forSettings(settings: OperatorSettings): CacheView {
    const key = JSON.stringify(settings, (_key, value: unknown) => (value instanceof Set ? [...value] : value));
    if (key !== this.#settingsKey) {
      this.#entries.clear();
      this.#last = {};
    }
    this.#settingsKey = key;
    const entries = this.#entries;
    const last = this.#last;
    return {
      get walk() {
        return last.walk;
      },
      set walk(walk) {
        last.walk = walk;
      },
      forget(file) {
        entries.delete(`${file.file}\0${file.real}`);
      },
      async read(file, catalog) {
        const id = `${file.file}\0${file.real}`;
        const info = await stat(file.real, { bigint: true }).catch(() => undefined);
        const stamp = info ? `${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}` : '';
        const held = entries.get(id);
        if (held && stamp && held.stamp === stamp) return held.result;
        const result = await checkFile(file, catalog, settings);
        if (stamp) entries.set(id, { stamp, result });
        return result;
      },
      keepOnly(files) {
        const wanted = new Set(files.map((f) => `${f.file}\0${f.real}`));
        for (const id of entries.keys()) if (!wanted.has(id)) entries.delete(id);
      },
    };
  }

  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The last walk without problems: its files in walk order with their results, its directories (by
 * real path, to the name walked under), and counts that tell a valid set from the files that changed.
 */
interface PolicyWalk {
  target: string;
  files: PolicyFile[];
  results: FileResult[];
  dirs: Map<string, string>;
  idCounts: Map<string, number>;
  duplicateIds: number;
  filesWithProblems: number;
}

interface CacheView {
  read(file: PolicyFile, catalog: ProviderCatalog): Promise<FileResult>;
  forget(file: PolicyFile): void;
  keepOnly(files: PolicyFile[]): void;
  walk: PolicyWalk | undefined;
}

/**
 * The policy of one credential for an incident (`rotor rotate --emergency`, `rotor leak`): taken
 * whenever its own document is valid and it is declared once, whatever else in the directory is
 * broken; the other files' problems come back to be reported. Throws PolicyLoadError (with every
 * problem) when the credential's own document is invalid or the id is declared twice.
 */
export function incidentPolicy(inspection: PolicyInspection, credentialId: string): { policy: Policy | undefined; otherProblems: PolicyProblem[] } {
  const declaredIn = inspection.declared.filter((d) => d.id === credentialId);
  const policy = inspection.policies.find((p) => p.id === credentialId);
  if (declaredIn.length > 1) {
    const where = [...new Set(declaredIn.map((d) => d.file))].join(', ');
    throw new PolicyLoadError([...inspection.problems, { file: declaredIn[0]!.file, path: 'id', message: `credential id "${credentialId}" is declared more than once (${where}): which one is meant is unclear` }]);
  }
  // Its document is invalid, or it may sit in a file that could not be read at all: show why.
  if (!policy && inspection.problems.length > 0) throw new PolicyLoadError(inspection.problems);
  return { policy, otherProblems: inspection.problems };
}

/** The same problem found twice (e.g. by the inline-secret scan and a provider's schema) is listed once. */
function uniqueProblems(problems: PolicyProblem[]): PolicyProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.file}\0${p.line ?? ''}\0${p.path}\0${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

type SideOutputs = Pick<PolicyInspection, 'discovery' | 'discoveryProblems' | 'declared'>;

/**
 * Parses the YAML text of one file into policies, adding any problems to `problems` and any
 * manual credentials to `manual`.
 *
 * Two parsers: a fast one (js-yaml, no positions) takes every file that turns out valid; a file
 * with any problem, or with anything the fast parser is not trusted with (an alias, a YAML error,
 * deep nesting), is parsed again by the position-keeping `yaml` parser, so every problem is
 * reported exactly as before, with its line.
 */
export function parsePolicyText(
  text: string,
  file: string,
  catalog: ProviderCatalog,
  problems: PolicyProblem[],
  manual: DeclaredManualCredential[] = [],
  options: LoadOptions & { into?: SideOutputs } = {},
): Policy[] {
  const settings = options.settings ?? operatorSettingsFromEnv();
  const values = quickDocuments(text);
  if (values) {
    const found = { problems: [] as PolicyProblem[], manual: [] as DeclaredManualCredential[], into: { discovery: [], discoveryProblems: [], declared: [] } as SideOutputs };
    const check = documentChecker(file, catalog, settings, found.problems, found.manual, found.into);
    const policies = values.flatMap((value) => check(value, () => undefined));
    if (found.problems.length === 0) {
      manual.push(...found.manual);
      options.into?.discovery.push(...found.into.discovery);
      options.into?.declared.push(...found.into.declared);
      return policies;
    }
  }
  return parseWithPositions(text, file, catalog, settings, problems, manual, options.into);
}

/**
 * The documents of `text` by the fast parser, or undefined when the text is for the
 * position-keeping parser: it may hold an anchor (so aliases, whose limit is counted there), does
 * not parse, or nests too deeply. Duplicate keys are refused by both.
 */
function quickDocuments(text: string): unknown[] | undefined {
  if (MAYBE_ANCHOR.test(text)) return undefined;
  try {
    const values = loadAllYaml(text, undefined, { schema: CORE_SCHEMA });
    return values.some((v) => depthOver(v, MAX_NESTING)) ? undefined : values;
  } catch {
    return undefined; // a YAML error, or deeper than js-yaml's own depth limit: the other parser says why
  }
}

/**
 * Could `text` hold an anchor (`&name`)? An alias needs one. Matches a `&` wherever a YAML node may
 * start (line start, after a space or a flow indicator); a `&` in some quoted text matches too, and
 * such a file just takes the slower parser.
 */
const MAYBE_ANCHOR = /(?:^|[\s[{,:])&/m;

/** The position-keeping parse: slower, exact lines for every problem. */
function parseWithPositions(
  text: string,
  file: string,
  catalog: ProviderCatalog,
  settings: OperatorSettings,
  problems: PolicyProblem[],
  manual: DeclaredManualCredential[],
  into: SideOutputs | undefined,
): Policy[] {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  const check = documentChecker(file, catalog, settings, problems, manual, into);
  const policies: Policy[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      if (doc.errors.some((e) => /Maximum call stack/.test(e.message))) {
        problems.push({ file, path: '', line: doc.errors[0]!.linePos?.[0]?.line, message: `nested too deeply: documents are limited to ${MAX_NESTING} levels` });
        continue;
      }
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
    policies.push(...check(value, (path) => nodeLine(doc, path, lineCounter)));
  }
  return policies;
}

/**
 * Checks one parsed document after another (policies, discovery targets, manual credentials),
 * numbering the policies of the file in order; `lineOf` gives the line of a path where known.
 */
function documentChecker(
  file: string,
  catalog: ProviderCatalog,
  settings: OperatorSettings,
  problems: PolicyProblem[],
  manual: DeclaredManualCredential[],
  into: SideOutputs | undefined,
): (value: unknown, lineOf: (path: PropertyKey[]) => number | undefined) => Policy[] {
  let index = 0;
  return (value, lineOf) => {
    const policies: Policy[] = [];
    if (value === null || value === undefined) return policies; // an empty document, e.g. after a trailing ---
    if (depthOver(value, MAX_NESTING)) {
      problems.push({ file, path: '', line: lineOf([]), message: `nested more than ${MAX_NESTING} levels deep: documents are limited to ${MAX_NESTING} levels` });
      return policies;
    }
    // Other kinds of document (discovery targets, manual credentials) are checked here too, so a bad
    // one refuses the set, and never hold a secret value either.
    if (isDiscoveryDocument(value) || isManualCredentialDocument(value)) {
      const discovery = isDiscoveryDocument(value);
      const report: Report = (path, message) => {
        const problem = { file, path: formatPath(path), line: lineOf(path), message };
        problems.push(problem);
        if (discovery) into?.discoveryProblems.push(problem);
      };
      scanValues(value, [], report, settings);
      if (discovery) {
        const config = parseDiscoveryDocument(value, catalog, report);
        const every = config && everyProblems(config.every, settings);
        if (every) report(['every'], every);
        else if (config) into?.discovery.push(config);
      } else {
        declare(value, file, into);
        const credential = parseManualCredentialDocument(value, report);
        if (credential) manual.push({ ...credential, source: { file } });
      }
      return policies;
    }
    const isList = typeof value === 'object' && !Array.isArray(value) && 'policies' in value && Object.keys(value).length === 1;
    const items: unknown[] = isList ? (value as { policies: unknown }).policies as unknown[] : [value];
    if (!Array.isArray(items)) {
      problems.push({ file, path: 'policies', line: lineOf(['policies']), message: 'must be a list of policies' });
      return policies;
    }
    items.forEach((item, i) => {
      const prefix: PropertyKey[] = isList ? ['policies', i] : [];
      const report = (path: PropertyKey[], message: string) =>
        problems.push({ file, path: formatPath([...prefix, ...path]), line: lineOf([...prefix, ...path]), message });
      declare(item, file, into);
      const policy = validatePolicy(item, catalog, settings, report);
      if (policy) policies.push({ ...policy, source: { file, index } });
      index++;
    });
    return policies;
  };
}

function declare(item: unknown, file: string, into: Pick<PolicyInspection, 'declared'> | undefined): void {
  const id = isRecord(item) ? item.id : undefined;
  if (into && typeof id === 'string') into.declared.push({ id, file });
}

type Report = (path: PropertyKey[], message: string) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A provider block worth checking against its provider's schema: an object with a type. */
function providerBlock(value: unknown): { type: string } | undefined {
  return isRecord(value) && typeof value.type === 'string' && value.type.length > 0 ? (value as { type: string }) : undefined;
}

/**
 * Validates one policy. Every part is checked even when another part is wrong, so one run lists
 * every problem of the document (a typo in a credential field together with a missing owner).
 */
function validatePolicy(item: unknown, catalog: ProviderCatalog, settings: OperatorSettings, report: Report): Omit<Policy, 'source'> | undefined {
  let problems = 0;
  const flagged = new Set<string>();
  const reported = new Set<string>();
  const counting: Report = (path, message) => {
    problems++;
    reported.add(formatPath(path));
    report(path, message);
  };
  // The scan's verdict on a value stands alone: a schema's "must be a secret reference" on the same value adds nothing.
  scanValues(item, [], (path, message) => (flagged.add(formatPath(path)), counting(path, message)), settings);
  const bySchema = (schema: z.ZodType, prefix: PropertyKey[]) => (issue: z.core.$ZodIssue) => {
    const path = [...prefix, ...issue.path];
    if (flagged.has(formatPath(path))) return;
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path);
      for (const key of issue.keys) {
        const guess = nearest(key, known);
        counting([...path, key], `unknown field "${key}"${guess ? `; did you mean "${guess}"?` : ''}`);
      }
      return;
    }
    counting(path, issue.message);
  };
  const parsed = PolicySchema.safeParse(item);
  if (!parsed.success) parsed.error.issues.forEach(bySchema(PolicySchema, []));
  const raw = isRecord(item) ? item : {};
  const p = parsed.success ? parsed.data : undefined;

  const credentialBlock = providerBlock(p?.credential ?? raw.credential);
  const credential = credentialBlock && catalog.credential(credentialBlock.type);
  let credentialSpec: Record<string, unknown> | undefined;
  if (credentialBlock && !credential) {
    counting(['credential', 'type'], `unknown credential type ${quotedTypeName(String(credentialBlock.type))}; known: ${catalog.credentialTypes().join(', ')}`);
  } else if (credentialBlock && credential) {
    const { type: _type, ...fields } = credentialBlock as Record<string, unknown>;
    credentialSpec = parseSpec(credential.spec, fields, ['credential'], bySchema);
  }
  const storeBlock = providerBlock(p?.store ?? raw.store);
  const store = storeBlock && parseStore(storeBlock, ['store'], catalog, counting, bySchema, true);
  const rawDependents = p?.dependents ?? (Array.isArray(raw.dependents) ? raw.dependents : []);
  const dependents = rawDependents.map((d, i) => {
    const block = providerBlock(d);
    if (!block) return undefined;
    const { name, ...fields } = block as { type: string; name?: unknown };
    const parsedStore = parseStore(fields as { type: string }, ['dependents', i], catalog, counting, bySchema, false);
    return parsedStore && { name: name as string, ...parsedStore };
  });
  const names = new Set<string>();
  rawDependents.forEach((d, i) => {
    const name = isRecord(d) ? d.name : undefined;
    if (typeof name !== 'string') return;
    if (names.has(name)) counting(['dependents', i, 'name'], `duplicate dependent name "${name}"`);
    names.add(name);
  });
  const strategy = p?.strategy ?? (raw.strategy === 'dual' || raw.strategy === 'single' ? raw.strategy : undefined) ?? credential?.strategies[0];
  if (credential && strategy && !credential.strategies.includes(strategy)) {
    counting(['strategy'], `${credentialBlock!.type} supports ${credential.strategies.join(' or ')}, not ${strategy}`);
  }
  const scheduleRaw = isRecord(raw.schedule) ? raw.schedule : {};
  const every = p?.schedule.every ?? (typeof scheduleRaw.every === 'string' ? scheduleRaw.every : undefined);
  const cron = p?.schedule.cron ?? (typeof scheduleRaw.cron === 'string' ? scheduleRaw.cron : undefined);
  // Checked only where the schema found the text well-formed, so each value gets one verdict.
  const everyProblem = every && !reported.has('schedule.every') && everyProblems(every, settings);
  if (everyProblem) counting(['schedule', 'every'], everyProblem);
  const cronProblem = cron && !reported.has('schedule.cron') && cronProblems(cron, settings);
  if (cronProblem) counting(['schedule', 'cron'], cronProblem);

  if (credential && store) capabilityProblems(catalog, credentialBlock!.type, store, dependents, counting);
  if (!p || problems > 0 || !credential || !credentialSpec || !store || dependents.some((d) => !d)) return undefined;
  const schedule = { ...p.schedule, every: p.schedule.every ?? (p.schedule.cron ? undefined : credential.defaultEvery) };
  return {
    ...p,
    strategy: strategy!,
    schedule,
    credential: { type: credentialBlock!.type, spec: credentialSpec },
    store,
    dependents: dependents as Policy['dependents'],
  };
}

type IssueReporter = (schema: z.ZodType, prefix: PropertyKey[]) => (issue: z.core.$ZodIssue) => void;

function parseStore(
  block: { type: string },
  path: PropertyKey[],
  catalog: ProviderCatalog,
  report: Report,
  bySchema: IssueReporter,
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
  const spec = parseSpec(store.spec, fields, path, bySchema);
  return spec && { type, spec };
}

function parseSpec(schema: z.ZodType, fields: unknown, path: PropertyKey[], bySchema: IssueReporter): Record<string, unknown> | undefined {
  const parsed = schema.safeParse(fields);
  if (parsed.success) return parsed.data as Record<string, unknown>;
  parsed.error.issues.forEach(bySchema(schema, path));
  return undefined;
}

/**
 * Checks every string of a document: no value that looks like a real secret, plain values under
 * secret-named keys refused, secret references only where the operator allows them, and no NUL
 * or unpaired surrogate (text fields are text).
 */
function scanValues(value: unknown, path: PropertyKey[], report: Report, settings: OperatorSettings): void {
  if (typeof value === 'string') {
    if (value.includes('\0')) return report(path, 'holds a NUL character: values must be text');
    if (UNPAIRED_SURROGATE.test(value)) return report(path, 'holds an unpaired UTF-16 surrogate (an invalid \\u escape): values must be valid Unicode');
    const hit = ANY_INLINE_SECRET.test(value) ? INLINE_SECRET_PATTERNS.find(([pattern]) => pattern.test(value)) : undefined;
    const key = path[path.length - 1];
    if (hit) return report(path, `looks like ${hit[1]}: never write secret values in a policy; ${SECRET_REF_HINT}`);
    if (isSecretRef(value)) {
      const refused = secretRefRefusal(value, settings.secretRefs);
      if (refused) report(path, refused);
    } else if (typeof key === 'string' && SECRET_KEYS.test(key) && !/^(env|file|vault):/.test(value)) {
      report(path, 'must be a secret reference (env:NAME, file:/path or vault:mount/path#key); secret values are never written in policy files');
    }
    return;
  }
  if (Array.isArray(value)) value.forEach((v, i) => scanValues(v, [...path, i], report, settings));
  else if (isRecord(value)) {
    for (const [k, v] of Object.entries(value)) scanValues(v, [...path, k], report, settings);
  }
}

/** True when `value` nests deeper than `limit` levels; walks iteratively, so any depth is safe to ask about. */
function depthOver(value: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, depth + 1]);
  }
  return false;
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

/**
 * 1-based line of the YAML node at `path`: the line of its key where it has one (an unknown key is
 * reported at its own line), else of the node, else of its nearest existing parent.
 */
export function nodeLine(doc: Document, path: PropertyKey[], lineCounter: LineCounter): number | undefined {
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  for (let depth = path.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(path.slice(0, depth) as unknown[], true);
    if (depth > 0) {
      const parent = depth === 1 ? doc.contents : doc.getIn(path.slice(0, depth - 1) as unknown[], true);
      const key = path[depth - 1];
      if (isMap(parent)) {
        const pair = parent.items.find((item) => isScalar(item.key) && item.key.value === key);
        if (pair && isScalar(pair.key) && pair.key.range) return lineAt(pair.key.range[0]);
      }
    }
    if (node && typeof node === 'object' && 'range' in node && Array.isArray(node.range)) {
      // For a missing key, point at the map that should hold it.
      if (depth < path.length && !(isMap(node) || isSeq(node))) continue;
      return lineAt(node.range[0] as number);
    }
  }
  return undefined;
}
