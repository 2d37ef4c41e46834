/**
 * The Helm chart's pod memory limit for a benchmark's child process, as a real memory cgroup: Node
 * sizes its heap from the cgroup's limit, so the process runs with the heap it would have in the
 * pod (on this 24 GB machine it would otherwise get a 4 GB heap, and V8 would collect that much
 * later). Needs root and a writable memory controller (cgroup v1 or v2); elsewhere the child runs
 * without a limit, and the scenario says so.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PodMemory {
  /** What each child runs under, for the report: the limit, or why there is none. */
  describe: string;
  /** Spawns `command` in a cgroup of its own, as one pod (the shell puts itself in, then execs it: the same pid). */
  spawn(command: string, args: string[], options: SpawnOptions): Promise<ChildProcess>;
  /** Removes the cgroups, once their processes have exited. */
  remove(): Promise<void>;
}

/** Memory cgroups limited to `bytes` under this process's own; or no limit where none can be made. */
export async function podMemory(bytes: number, text: string): Promise<PodMemory> {
  const probe = await makeCgroup(bytes, 'probe').catch((error: Error) => ({ error }));
  if ('error' in probe) {
    return { describe: `no memory limit (${probe.error.message})`, spawn: async (c, a, o) => spawn(c, a, o), remove: async () => undefined };
  }
  await rmdir(probe.dir);
  const made: string[] = [];
  return {
    describe: `${text} memory limit per process (the chart's resources.limits.memory), as a ${probe.version} memory cgroup`,
    async spawn(command, args, options) {
      const { dir } = await makeCgroup(bytes, String(made.length));
      made.push(dir);
      return spawn('sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, command, ...args], options);
    },
    remove: async () => {
      for (const dir of made) await rmdir(dir).catch(() => undefined);
    },
  };
}

async function makeCgroup(bytes: number, suffix: string): Promise<{ dir: string; version: 'v1' | 'v2' }> {
  if (process.getuid?.() !== 0) throw new Error('not root');
  const lines = (await readFile('/proc/self/cgroup', 'utf8')).trim().split('\n');
  const name = `rotor-bench-${process.pid}-${suffix}`;
  const v1 = lines.find((l) => l.split(':')[1]?.split(',').includes('memory'));
  if (v1) {
    const dir = join('/sys/fs/cgroup/memory', v1.split(':')[2]!, name);
    await mkdir(dir);
    await writeFile(join(dir, 'memory.limit_in_bytes'), String(bytes));
    return { dir, version: 'v1' };
  }
  const v2 = lines.find((l) => l.startsWith('0::'));
  if (!v2) throw new Error('no memory cgroup controller');
  const dir = join('/sys/fs/cgroup', v2.slice(3), name);
  await mkdir(dir);
  await writeFile(join(dir, 'memory.max'), String(bytes)).catch(async (error: Error) => {
    await rmdir(dir).catch(() => undefined);
    throw new Error(`the memory controller is not enabled here (${error.message})`);
  });
  return { dir, version: 'v2' };
}
