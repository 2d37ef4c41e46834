/**
 * Shared bits of the benchmarks: arguments, measuring a phase (wall time, CPU time), percentiles,
 * and the one JSON line a scenario prints last so bench/run.ts can collect it.
 */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

export interface Measured<T> {
  value: T;
  wallMs: number;
  /** User + system CPU time of this process during the phase (not of PostgreSQL, a separate process). */
  cpuMs: number;
}

export async function measure<T>(run: () => Promise<T>): Promise<Measured<T>> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  const value = await run();
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { value, wallMs: round(wallMs), cpuMs: round((used.user + used.system) / 1000) };
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb(): number {
  return round(process.resourceUsage().maxRSS / 1024);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return round(sorted[Math.max(0, index)]!);
}

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A scenario's result: printed as the last line of stdout, prefixed so logs cannot be mistaken for it. */
export const RESULT_PREFIX = 'BENCH_RESULT ';
export function report(result: Record<string, unknown>): void {
  process.stdout.write(`\n${RESULT_PREFIX}${JSON.stringify({ ...result, peakRssMb: peakRssMb() })}\n`);
}
