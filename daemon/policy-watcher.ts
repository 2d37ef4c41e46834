/**
 * Notices every way a policy directory's content changes: an in-place write, an editor's or
 * `sed -i`'s atomic replace (write a temporary file, rename it over the old one), a new file or
 * sub-directory, a removal, and a Kubernetes ConfigMap update (a new `..<timestamp>` directory and
 * an atomic rename of the `..data` symlink).
 *
 * Each directory is watched on its own (`fs.watch`, i.e. inotify on Linux, FSEvents on macOS):
 * a directory watch reports changes to any entry in it, whatever inode the entry has now, which a
 * watch on a file cannot (it follows the old inode after a rename). The set of watched
 * directories (every directory of the tree, and the directory holding each symlinked file's real
 * target, such as a ConfigMap's `..<timestamp>`) is worked out again after a change that may move
 * it (mayMoveDirectories: not after an edit of policy files, which would cost a walk of the tree). Events
 * are debounced and handed on as the entries they name, so the reload re-checks only those
 * (PolicySet.reloadEntries); a batch that cannot name them (an event without a file name, a watch
 * that failed, more entries than MAX_NAMED_ENTRIES: the kernel may have dropped some) is handed on
 * as undefined, for a walk of the whole directory. Chokidar was considered: it adds a dependency and watches symlink
 * targets by path, while the ConfigMap case needs exactly the directory-level view used here.
 */
import { watch, type FSWatcher } from 'node:fs';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isHidden, listPolicyFiles } from '../config/policy-files.js';
import type { ChangedEntry } from '../config/load.js';

/** More entries than this in one batch are re-read by a walk of the whole directory: a walk is then as cheap, and safe. */
const MAX_NAMED_ENTRIES = 1000;

export interface PolicyWatcher {
  /** Resolves once the first set of directories is watched. */
  ready: Promise<void>;
  close(): void;
}

/** Directories that hold policy content: every directory of the tree, and each symlinked file's real home. */
async function directoriesToWatch(root: string): Promise<Set<string>> {
  const dirs = new Set<string>();
  const rootInfo = await stat(root).catch(() => undefined);
  if (!rootInfo) return dirs;
  if (!rootInfo.isDirectory()) {
    dirs.add(dirname(await realpath(root))); // a single policy file: watch its directory
    return dirs;
  }
  const walk = async (dir: string, depth: number): Promise<void> => {
    const real = await realpath(dir).catch(() => undefined);
    if (!real || dirs.has(real) || depth > 16) return;
    dirs.add(real);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (isHidden(e.name)) continue;
      if (e.isDirectory() || (e.isSymbolicLink() && (await stat(join(dir, e.name)).catch(() => undefined))?.isDirectory())) await walk(join(dir, e.name), depth + 1);
    }
  };
  await walk(root, 0);
  for (const file of await listPolicyFiles(root, []).catch(() => [])) dirs.add(dirname(file.real));
  return dirs;
}

/**
 * Whether a batch may change which directories hold policy content, so the watched set must be
 * worked out again (a walk of the whole tree): an unnamed batch, or any entry that is now anything
 * but a regular file, or is gone and was a watched directory. An edit of policy files does not.
 */
async function mayMoveDirectories(batch: ChangedEntry[] | undefined, watched: ReadonlyMap<string, FSWatcher>): Promise<boolean> {
  if (!batch) return true;
  for (const { dir, name } of batch) {
    const path = join(dir, name);
    const info = await lstat(path).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? 'gone' : 'unknown'));
    if (info === 'unknown' || (info === 'gone' ? watched.has(path) : !info.isFile())) return true;
  }
  return false;
}

/**
 * Calls `onChange` (debounced) after any change to the policies under `root`, with the entries the
 * events named (each directory by its real path), or undefined when they cannot all be named.
 */
export function watchPolicyDirectory(root: string, onChange: (changed: ChangedEntry[] | undefined) => void, options: { debounceMs?: number } = {}): PolicyWatcher {
  const watchers = new Map<string, FSWatcher>();
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let named = new Map<string, ChangedEntry>();
  let unnamed = false;

  const drop = (dir: string) => {
    watchers.get(dir)?.close();
    watchers.delete(dir);
  };
  const refresh = async () => {
    const wanted = await directoriesToWatch(root).catch(() => new Set<string>());
    if (closed) return;
    for (const dir of watchers.keys()) if (!wanted.has(dir)) drop(dir);
    for (const dir of wanted) {
      if (watchers.has(dir)) continue;
      try {
        const w = watch(dir, { persistent: false }, (_event, name) => changed(dir, name));
        // The directory went away; the next refresh decides what to watch, and a walk what changed.
        w.on('error', () => (drop(dir), changed(dir, null)));
        watchers.set(dir, w);
      } catch {
        // Gone between listing and watching: the event that removed it triggers a refresh.
      }
    }
  };
  function changed(dir: string, name: string | null) {
    if (closed) return;
    if (name === null || named.size >= MAX_NAMED_ENTRIES) unnamed = true;
    else named.set(`${dir}\0${name}`, { dir, name });
    clearTimeout(timer);
    timer = setTimeout(() => {
      const batch = unnamed ? undefined : [...named.values()];
      named = new Map();
      unnamed = false;
      void mayMoveDirectories(batch, watchers)
        .then((moved) => (moved ? refresh() : undefined))
        .then(() => {
          if (!closed) onChange(batch);
        });
    }, options.debounceMs ?? 500);
  }
  return {
    ready: refresh(),
    close() {
      closed = true;
      clearTimeout(timer);
      for (const dir of [...watchers.keys()]) drop(dir);
    },
  };
}
