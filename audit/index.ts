/** Runs the posture rules over the facts and sums the findings up for the reports. */
import { RULES } from './rules/index.js';
import { severityRank, SEVERITIES, type AuditContext, type CredentialFacts, type Finding, type Rule, type Severity } from './types.js';

export interface AuditResult {
  generatedAt: string;
  credentials: number;
  findings: Finding[];
  bySeverity: Record<Severity, number>;
  byOwner: Record<string, number>;
  byType: Record<string, number>;
  /** Age in days of each live credential's material (for the age chart); null when Rotor cannot tell. */
  ages: Array<{ subject: string; type: string; days: number | null }>;
}

/** Findings, worst first; a rule that throws is a bug, not a finding, so it is not caught. */
export function runAudit(facts: CredentialFacts[], context: AuditContext, rules: Rule[] = RULES): AuditResult {
  const findings = facts
    .flatMap((f) => rules.map((rule) => rule(f, context)))
    .filter((f): f is Finding => f !== null)
    .sort((a, b) => severityRank(a.severity) - severityRank(b.severity) || a.subject.localeCompare(b.subject) || a.rule.localeCompare(b.rule));
  const count = (key: (f: Finding) => string) =>
    findings.reduce<Record<string, number>>((acc, f) => ((acc[key(f)] = (acc[key(f)] ?? 0) + 1), acc), {});
  const bySeverity = Object.fromEntries(SEVERITIES.map((s) => [s, 0])) as Record<Severity, number>;
  for (const f of findings) bySeverity[f.severity]++;
  // Every live credential is in the chart: one whose age Rotor cannot tell (never rotated by Rotor,
  // or its system does not say when it was made) has days null, shown as "unknown", not left out.
  const ages = facts
    .filter((f) => f.status === 'active' || f.status === 'managed' || f.status === 'manual')
    .map((f) => {
      const madeAt = f.kind === 'discovered' ? f.createdAt : f.lastRotatedAt;
      const days = madeAt instanceof Date ? Math.max(0, Math.floor((context.now.getTime() - madeAt.getTime()) / 86_400_000)) : null;
      return { subject: f.subject, type: f.type, days };
    });
  return {
    generatedAt: context.now.toISOString(),
    credentials: facts.length,
    findings,
    bySeverity,
    byOwner: count((f) => f.owner ?? '(no owner)'),
    byType: count((f) => f.type),
    ages,
  };
}

/** Findings at or above `threshold` (critical is the highest). */
export function findingsAtOrAbove(findings: Finding[], threshold: Severity): Finding[] {
  return findings.filter((f) => severityRank(f.severity) <= severityRank(threshold));
}
