/**
 * `npm run bench [-- --n 100] [-- --only throughput,plan]`: Rotor's benchmarks. Each scenario runs in
 * its own process (so peak RSS is its own), prints one result line, and all results go to
 * bench/results/<timestamp>.json with the machine they ran on; a short table goes to stdout.
 *
 *   throughput  rotations per second through the real worker (--n credentials, default 1000)
 *   workers     rotations per second with one and with two `rotor worker` processes (--n, default 200)
 *   emergency   emergency rotation latency p50/p99, alone and with a backlog (--runs 50, --queued 1000)
 *   plan        `rotor plan` logic over 10,000 and 100,000 generated policies (--policies to override)
 *   audit       inventory and audit queries over 100,000 credentials and 1,000,000 audit rows
 */
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { RESULT_PREFIX } from './lib.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const n = arg('n');
const runs: Array<{ name: string; script: string; args: string[] }> = [
  { name: 'throughput', script: 'throughput', args: ['--n', n ?? '1000'] },
  { name: 'workers', script: 'workers', args: ['--n', n ?? '200', ...(arg('processes') ? ['--processes', arg('processes')!] : [])] },
  { name: 'emergency', script: 'emergency', args: ['--runs', arg('runs') ?? '50', '--queued', arg('queued') ?? n ?? '1000'] },
  ...(arg('policies') ? [arg('policies')!] : ['10000', '100000']).map((p) => ({ name: 'plan', script: 'plan', args: ['--policies', p] })),
  { name: 'audit', script: 'audit', args: ['--credentials', arg('credentials') ?? '100000', '--audit', arg('audit') ?? '1000000'] },
];
const only = arg('only')?.split(',');

function runScenario(script: string, args: string[]): Promise<Record<string, unknown>> {
  const path = fileURLToPath(new URL(`./scenarios/${script}.ts`, import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', path, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ROTOR_LOG_LEVEL: 'silent' },
  });
  let out = '';
  child.stdout.on('data', (chunk) => (out += String(chunk)));
  return new Promise((resolve, reject) => {
    child.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || !line) return reject(new Error(`${script} ${args.join(' ')} failed (exit ${code})`));
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as Record<string, unknown>);
    });
  });
}

const machine = { nproc: cpus().length, cpu: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}` };
const startedAt = new Date();
const results: Array<Record<string, unknown>> = [];
for (const run of runs) {
  if (only && !only.includes(run.name)) continue;
  console.log(`running ${run.name} ${run.args.join(' ')} …`);
  const started = performance.now();
  results.push({ ...(await runScenario(run.script, run.args)), args: run.args.join(' '), scenarioWallS: Math.round((performance.now() - started) / 1000) });
}

const dir = fileURLToPath(new URL('./results/', import.meta.url));
await mkdir(dir, { recursive: true });
const file = `${dir}${startedAt.toISOString().replace(/[:.]/g, '-')}.json`;
await writeFile(file, JSON.stringify({ startedAt, machine, results }, null, 2));

const rows: Array<[string, string, string]> = [];
for (const r of results) {
  const mem = `${r.peakRssMb} MB`;
  if (r.scenario === 'throughput') {
    rows.push([`throughput (${r.credentials} credentials)`, `${r.rotationsPerSecond} rotations/s (floor ${r.floorRotationsPerSecond}/s; goal ≥ 20), CPU ${Math.round(Number(r.cpuMs) / 1000)} s / wall ${Math.round(Number(r.wallMs) / 1000)} s`, mem]);
    rows.push([`CPU per rotation (${r.activitiesPerRotation} activities)`, `${r.cpuMsPerRotation} ms vs floor ${r.floorCpuMsPerRotation} ms: ${r.cpuToFloor}× (goal ≤ 1.3×); Rotor's own ${r.rotorOwnCpuMsPerRotation} ms (goal ≤ 20 ms)`, `RSS ${r.peakRssMbDuringRotations} MB, heap ${r.peakHeapMbDuringRotations} MB, rotations only`]);
  }
  if (r.scenario === 'workers') {
    for (const w of r.rounds as Array<Record<string, unknown>>) {
      rows.push([
        `throughput, ${w.processes} worker process(es) (${r.credentials} credentials)`,
        `${w.rotationsPerSecond} rotations/s, wall ${Math.round(Number(w.wallMs) / 1000)} s, split ${(w.rotationsCreatedPerProcess as number[]).join('/')}; ${r.memoryLimit}, heap limit ${r.workerHeapLimitMb} MB`,
        `worker process(es) ${(w.workerPeakRssMb as number[]).join('/')} MB (goal ≤ 500 MB)`,
      ]);
    }
  }
  if (r.scenario === 'emergency') {
    const alone = r.aloneMs as Record<string, number>;
    const backlog = r.withBacklogMs as Record<string, number>;
    const timeouts = (m: Record<string, number>) => (m.workflowTaskTimeouts ? ` (${m.workflowTaskTimeouts} with a workflow task timeout)` : '');
    rows.push([
      `emergency latency (${r.runs} runs)`,
      `alone p50 ${alone.p50} ms, p99 ${alone.p99} ms${timeouts(alone)}; ${r.queued} queued p50 ${backlog.p50} ms, p99 ${backlog.p99} ms${timeouts(backlog)}; goal p99 < 500 ms`,
      mem,
    ]);
  }
  if (r.scenario === 'plan') {
    rows.push([`plan (${r.policies} policies)`, `${(Number(r.totalPlanMs) / 1000).toFixed(1)} s (load ${(Number(r.loadPoliciesMs) / 1000).toFixed(2)} s; floor ${(Number(r.floorMs) / 1000).toFixed(2)} s; ratio ${r.loadToFloor}×; CPU ${r.loadCpuMs} ms vs floor ${r.floorCpuMs} ms, ${r.loadToFloorCpu}×; goal ≤ 1.5×)`, mem]);
    rows.push([
      `daemon reload + plan, 1 of ${r.files} files changed (${r.policies} policies)`,
      `${r.reloadOneFileChangedMs} ms (goal ≤ 100 ms; ${r.reloadScheduleChanges} schedule changes); whole reload ${r.wholeReloadOneFileChangedMs} ms + whole apply's local work ${r.wholeApplyLocalMs} ms`,
      mem,
    ]);
  }
  if (r.scenario === 'audit') rows.push([`inventory (${r.credentials} cred., ${r.auditRows} audit rows)`, `listCredentials ${r.listCredentialsMs} ms, overdue count ${r.overdueCountMs} ms, one trail ${r.auditTrailOfOneCredentialMs} ms`, mem]);
  if (r.scenario === 'audit') rows.push([`audit appends, 16 callers at once`, `${r.auditAppendsPerSecond}/s vs unchained inserts ${r.plainInsertsPerSecond}/s: ${r.appendToFloor}× the floor's time`, mem]);
}
const width = [0, 1, 2].map((i) => Math.max(...rows.map((row) => row[i]!.length), ['scenario', 'result', 'peak RSS'][i]!.length));
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(width[i]!)).join(' | ')} |`;
console.log(`\n${machine.nproc} CPUs (${machine.cpu}), ${machine.memoryGb} GB, Node ${machine.node}`);
console.log(line(['scenario', 'result', 'peak RSS']));
console.log(line(width.map((w) => '-'.repeat(w))));
for (const row of rows) console.log(line(row));
console.log(`\nresults: ${file}`);
