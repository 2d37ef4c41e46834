/**
 * Prints an audit HTML report of made-up facts (no database needed), for looking at the page:
 * `npx tsx scripts/sample-report.ts > report.html`. The facts name no real system.
 */
import { runAudit } from '../audit/index.js';
import { renderHtmlReport } from '../audit/report-html.js';
import { DAY_MS, DEFAULT_THRESHOLDS, type CredentialFacts } from '../audit/types.js';

const now = new Date();
const ago = (days: number) => new Date(now.getTime() - days * DAY_MS);
const key = (id: string, principal: string, createdDays: number, extra: Partial<CredentialFacts> = {}): CredentialFacts => ({
  subject: `aws-iam-access-key:${principal}/${id}`,
  kind: 'discovered',
  type: 'aws-iam-access-key',
  principal,
  materialId: id,
  managedBy: null,
  owner: null,
  purpose: null,
  status: 'active',
  createdAt: ago(createdDays),
  lastUsedAt: null,
  broadPrivileges: [],
  ...extra,
});

const facts: CredentialFacts[] = [
  { subject: 'payments-db', kind: 'managed', type: 'postgres-password', owner: 'team-payments', purpose: 'Payments API login', status: 'managed', lastRotatedAt: ago(45), nextDueAt: ago(15), firstSeenAt: ago(200), recentFailures: [{ rotationId: 'r-1', outcome: 'rolled_back', step: 'dependent.checked', startedAt: ago(2) }] },
  { subject: 'reports-db', kind: 'managed', type: 'postgres-password', owner: 'team-data', purpose: 'Nightly reports', status: 'managed', policyExpires: ago(10).toISOString().slice(0, 10), lastRotatedAt: ago(5), nextDueAt: ago(-25), firstSeenAt: ago(400) },
  { subject: 'deployer-key', kind: 'managed', type: 'aws-iam-access-key', owner: 'team-gone', purpose: 'Deploys the web app', status: 'managed', lastRotatedAt: ago(20), nextDueAt: ago(-70), firstSeenAt: ago(100) },
  key('AKIAEXAMPLEMANAGED01', 'app-deployer', 20, { managedBy: 'deployer-key', owner: 'team-gone', purpose: 'Deploys the web app', lastUsedAt: ago(0) }),
  key('AKIAEXAMPLEEXTRA0001', 'app-deployer', 3),
  key('AKIAEXAMPLESTALE0001', 'legacy-batch', 420, { broadPrivileges: ['AdministratorAccess attached'] }),
  key('AKIAEXAMPLEOLD000001', 'legacy-batch', 150, { broadPrivileges: ['AdministratorAccess attached'], lastUsedAt: ago(100) }),
];

const result = runAudit(facts, { now, policies: [], allowedOwners: ['team-payments', 'team-data'], thresholds: DEFAULT_THRESHOLDS });
process.stdout.write(renderHtmlReport(result));
