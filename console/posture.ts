/**
 * Posture for the console: the same facts and rules as `rotor audit` (audit/), computed at most
 * once per `maxAgeMs` and shared by concurrent requests (at 100,000 credentials a run takes seconds).
 */
import { collectFacts } from '../audit/facts.js';
import { runAudit, type AuditResult } from '../audit/index.js';
import { DEFAULT_THRESHOLDS, severityRank, type Finding, type Severity } from '../audit/types.js';
import type { Policy } from '../config/policy.js';
import type { RotorStore } from '../store/index.js';

export interface Posture {
  result: AuditResult;
  /** Findings of each subject, worst first. */
  bySubject: Map<string, Finding[]>;
}

export class PostureCache {
  #current?: { at: number; posture: Posture };
  #running?: Promise<Posture>;

  constructor(
    private readonly deps: { store: RotorStore; policies: () => Policy[]; allowedOwners: () => Promise<string[]>; now?: () => Date },
    private readonly maxAgeMs = 15_000,
  ) {}

  /**
   * The posture; a stale one is answered at once while a fresh one is computed in the background
   * (at 100,000 credentials a run takes seconds: no page waits for it but the very first).
   */
  async get(): Promise<Posture> {
    const now = this.deps.now?.() ?? new Date();
    if (this.#current && now.getTime() - this.#current.at < this.maxAgeMs) return this.#current.posture;
    this.#running ??= this.compute(now).finally(() => (this.#running = undefined));
    if (this.#current) {
      this.#running.catch(() => undefined); // the next request tries again
      return this.#current.posture;
    }
    return this.#running;
  }

  /** Marks the last result stale (after an action): the next request starts a fresh one. */
  invalidate(): void {
    if (this.#current) this.#current.at = 0;
  }

  private async compute(now: Date): Promise<Posture> {
    const thresholds = DEFAULT_THRESHOLDS;
    const facts = await collectFacts(this.deps.store, { now, failureWindowDays: thresholds.failureWindowDays });
    const result = runAudit(facts, { now, policies: this.deps.policies(), allowedOwners: await this.deps.allowedOwners(), thresholds });
    const bySubject = new Map<string, Finding[]>();
    for (const f of result.findings) bySubject.set(f.subject, [...(bySubject.get(f.subject) ?? []), f]);
    const posture = { result, bySubject };
    this.#current = { at: now.getTime(), posture };
    return posture;
  }
}

/** Subjects with a finding at or above `severity`. */
export function subjectsAtOrAbove(posture: Posture, severity: Severity): string[] {
  return [...posture.bySubject].filter(([, fs]) => fs.some((f) => severityRank(f.severity) <= severityRank(severity))).map(([s]) => s);
}
