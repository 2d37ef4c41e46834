/**
 * A credential's page: who owns it and why it exists, its policy (references only, never a value),
 * material ids and ages, what its rotation is doing now (cli/status.ts's wording), its actions,
 * findings, recent runs (linked to the Temporal UI) and audit trail.
 */
import { idHtml, renderFindings } from '../../audit/finding-html.js';
import type { Finding } from '../../audit/types.js';
import { describeLive, materialStages } from '../../daemon/live-status.js';
import type { Policy } from '../../config/policy.js';
import { describePendingStep, type LiveStatus } from '../../daemon/live-status.js';
import { humanDuration } from '../../lib/human-duration.js';
import { html, type Html } from '../../lib/html.js';
import type { AuditEvent, CredentialRow, RunRow } from '../../store/index.js';
import type { Actor, Authorization } from '../../daemon/auth/actor.js';
import type { ConsoleAction } from '../actions.js';
import { when } from '../layout.js';

export interface CredentialView {
  credential: CredentialRow;
  policy?: Policy;
  runs: Array<RunRow & { triggerText: string | null }>;
  live?: LiveStatus;
  /** Temporal runs the credential's rotation workflow now. */
  running: boolean;
  findings: Finding[];
  /** When the posture the findings come from was computed (it is cached for a few seconds). */
  findingsAsOf: string;
  audit: Array<AuditEvent & { seq: number; at: Date }>;
  now: Date;
  /** The Temporal UI's page of a run, when its base URL is configured. */
  runHref?: (run: RunRow) => string;
  actor: Actor;
  csrfToken: string;
  authorize: (action: ConsoleAction) => Authorization;
  notice?: string;
}

/** What each action is, in the words of its button and its confirmation. */
export const ACTION_TEXT: Record<ConsoleAction, { label: string; confirm: string; danger?: boolean }> = {
  rotate: { label: 'Rotate now', confirm: 'Start a rotation of this credential now' },
  emergency: { label: 'Emergency rotation', confirm: 'Rotate now with the emergency grace (the old material is revoked as soon as dependents serve the new one)', danger: true },
  approve: { label: 'Approve the rotation', confirm: 'Let the waiting rotation go ahead' },
  reject: { label: 'Reject the rotation', confirm: 'End the waiting rotation; nothing is changed' },
  retry: { label: 'Retry the failed step', confirm: 'Run the failed step again' },
  rollback: { label: 'Roll back', confirm: 'Give dependents their previous material back and discard the new material', danger: true },
  continue: { label: 'Continue', confirm: 'Accept the failure of the step and go on with the rotation', danger: true },
};

/** The actions that apply to the credential as it stands (the workflow decides again). */
export function applicableActions(credential: CredentialRow, live: LiveStatus | undefined, running: boolean): ConsoleAction[] {
  if (credential.status !== 'managed') return [];
  const step = live?.status?.step;
  const out: ConsoleAction[] = [];
  if (!running) out.push('rotate');
  if (step === 'waiting for approval') out.push('approve', 'reject');
  if (step?.startsWith('failed: ')) out.push('retry', 'rollback', 'continue');
  out.push('emergency');
  return out;
}

function policySummary(policy: Policy | undefined): Html {
  if (!policy) return html`<p class="muted">No policy in force (its file was removed, or this is a manual credential).</p>`;
  const schedule = policy.schedule.every ? `every ${policy.schedule.every}` : policy.schedule.cron ? `cron ${policy.schedule.cron}` : 'on demand only';
  const dependents = policy.dependents.map((d) => html`<li>${d.name} <span class="muted">(${d.type})</span></li>`);
  return html`<dl class="facts">
<dt>Credential type</dt><dd>${policy.credential.type}</dd>
<dt>Strategy</dt><dd>${policy.strategy ?? 'the provider’s default'}</dd>
<dt>Schedule</dt><dd>${schedule}${policy.enabled ? '' : ' (disabled)'}</dd>
<dt>Primary store</dt><dd>${policy.store.type}</dd>
<dt>Dependents</dt><dd>${dependents.length ? html`<ul>${dependents}</ul>` : 'none'}</dd>
<dt>Grace before revoke</dt><dd>${policy.revoke.after}${policy.revoke.requireDrained ? ', once the old material is no longer used' : ''}</dd>
<dt>On failure</dt><dd>${policy.rollback === 'manual' ? 'wait for a human (retry, roll back or continue)' : 'roll back automatically'}</dd>
<dt>Approval</dt><dd>${policy.approval.required ? `required (times out after ${policy.approval.timeout})` : 'not required'}</dd>
<dt>Emergency grace</dt><dd>${policy.emergency.grace}${policy.emergency.revokeFirst ? ', revoke first' : ''}</dd>
</dl>`;
}

function materials(v: CredentialView): Html {
  const stages = materialStages(v.credential, v.live?.status);
  // A material's age: since the run that made it started.
  const madeAt = (id: string | null) => (id ? v.runs.find((r) => r.newMaterial === id)?.startedAt : undefined) ?? (id && id === v.credential.currentMaterial ? v.credential.lastRotatedAt ?? undefined : undefined);
  const row = (stage: string, id: string | null) => {
    const at = madeAt(id);
    return html`<tr><th scope="row">${stage}</th><td>${id ? idHtml(id) : html`<span class="muted">none</span>`}</td><td>${at ? `${humanDuration(v.now.getTime() - at.getTime())}` : html`<span class="muted">${id ? 'unknown' : ''}</span>`}</td></tr>`;
  };
  return html`<div class="table-wrap"><table><caption>Material (ids only, never values)</caption>
<thead><tr><th scope="col">Stage</th><th scope="col">Material id</th><th scope="col">Age</th></tr></thead>
<tbody>${row('pending', stages.pending)}${row('current', stages.current)}${row('previous', stages.previous)}</tbody></table></div>`;
}

function liveSection(v: CredentialView, running: boolean): Html {
  const live = v.live?.status;
  let body: Html;
  if (live) {
    body = html`<p><strong data-step="${live.step}">${live.step}</strong></p><p>${describeLive(live, v.now)}</p>
${live.upgradedFrom ? html`<p>trigger: ${live.upgradedFrom} → emergency (upgraded while running)</p>` : ''}
${live.lastError ? html`<p>last error: ${live.lastError}</p>` : ''}`;
  } else if (running) body = html`<p>A rotation is running, but no worker answers: the step below waits for one.</p>`;
  else body = html`<p>No rotation is running.</p>`;
  const steps = (v.live?.steps ?? []).map((s) => html`<li>${s.attempt > 1 ? 'retrying' : 'running'}: ${describePendingStep(s)}</li>`);
  return html`<section id="live" class="live" aria-labelledby="live-h" aria-live="polite" data-running="${running ? 'yes' : 'no'}"><h2 id="live-h">Now</h2>${body}${steps.length ? html`<ul>${steps}</ul>` : ''}</section>`;
}

function actionForm(v: CredentialView, action: ConsoleAction): Html {
  const text = ACTION_TEXT[action];
  const allowed = v.authorize(action);
  const id = `a-${action}`;
  if (!allowed.allowed) return html`<details data-action="${action}"><summary>${text.label}</summary><p class="muted">Not allowed: ${allowed.why}</p></details>`;
  return html`<details data-action="${action}"><summary>${text.label}</summary>
<form method="post" action="/ui/credentials/${encodeURIComponent(v.credential.id)}/actions/${action}">
<input type="hidden" name="_csrf" value="${v.csrfToken}">
<div><label for="${id}-reason">Reason (recorded in the audit log)</label><textarea id="${id}-reason" name="reason" required maxlength="500"></textarea></div>
<label class="check"><input type="checkbox" name="confirm" value="yes" required id="${id}-confirm"> <span>${text.confirm}: ${v.credential.id}</span></label>
<div><button type="submit"${text.danger ? html` class="danger"` : ''}>${text.label}</button></div>
</form></details>`;
}

function auditDetail(detail: Record<string, unknown> | undefined): Html {
  const entries = Object.entries(detail ?? {}).filter(([k, value]) => k !== 'reason' && value !== null && typeof value !== 'object');
  return html`${entries.map(([k, value], i) => html`${i ? '; ' : ''}${k}: ${String(value)}`)}`;
}

type AuditRow = CredentialView['audit'][number];

/** Who acted: the display name with the actor id (`oidc:<sub>`, `token:<name>`, `cli:<user>`, `rotor`). */
function actorHtml(e: AuditRow): Html {
  const name = e.actorInfo?.name;
  return name && name !== e.actor ? html`${name} <span class="muted">(${e.actor})</span>` : html`${e.actor}`;
}

function reasonOf(e: AuditRow): string {
  if (typeof e.reason === 'string') return e.reason;
  return typeof e.detail?.reason === 'string' ? e.detail.reason : '';
}

export function credentialBody(v: CredentialView): Html {
  const c = v.credential;
  const running = v.running;
  const actions = applicableActions(c, v.live, running);
  const runs = v.runs.map((r) => {
    const href = v.runHref?.(r);
    return html`<tr><td>${when(r.startedAt)}</td><td>${r.triggerText ?? ''}</td><td>${r.outcome}</td><td>${r.step ?? ''}</td><td>${r.error ?? ''}</td>
<td>${href ? html`<a href="${href}">${idHtml(r.rotationId)}<span class="muted"> (Temporal UI)</span></a>` : idHtml(r.rotationId)}</td></tr>`;
  });
  const audit = [...v.audit].reverse().slice(0, 100).map((e) => html`<tr><td>${when(e.at)}</td><td>${actorHtml(e)}</td><td>${e.event}</td>
<td>${reasonOf(e)}</td><td>${auditDetail(e.detail)}</td></tr>`);
  return html`<h1>${idHtml(c.id)}</h1>
${v.notice ? html`<p class="banner notice" role="status">${v.notice}</p>` : ''}
<div class="panels"><section aria-labelledby="about-h"><h2 id="about-h">About</h2><dl class="facts">
<dt>Owner</dt><dd>${c.owner ?? 'none'}</dd><dt>Purpose</dt><dd>${c.purpose ?? 'none'}</dd>
<dt>Status</dt><dd>${c.status}</dd><dt>Environment</dt><dd>${c.environment ?? ''}</dd><dt>Expires</dt><dd>${c.expires ?? 'never'}</dd>
<dt>Last rotated</dt><dd>${when(c.lastRotatedAt)}</dd><dt>Next due</dt><dd>${when(c.nextDueAt)}</dd></dl>
${materials(v)}</section>
<section aria-labelledby="policy-h"><h2 id="policy-h">Policy</h2>${policySummary(v.policy)}</section></div>
${liveSection(v, running)}
<section id="actions" aria-labelledby="actions-h" data-actions="${actions.join(' ')}"><h2 id="actions-h">Actions</h2>
${actions.length ? html`<div class="actions">${actions.map((a) => actionForm(v, a))}</div>` : html`<p class="muted">None apply: the credential is ${c.status}.</p>`}</section>
<section aria-labelledby="findings-h"><h2 id="findings-h">Findings and what to do</h2><p class="muted">As of ${v.findingsAsOf} (the rules of <code>rotor audit</code>, recomputed at most every 15 s).</p>${renderFindings(v.findings)}</section>
<section id="runs" aria-labelledby="runs-h"><h2 id="runs-h">Recent runs</h2><div class="table-wrap" role="region" aria-labelledby="runs-h" tabindex="0"><table>
<thead><tr><th scope="col">Started</th><th scope="col">Trigger</th><th scope="col">Outcome</th><th scope="col">Step</th><th scope="col">Error</th><th scope="col">Run</th></tr></thead>
<tbody>${runs.length ? runs : html`<tr><td colspan="6">No rotation yet.</td></tr>`}</tbody></table></div></section>
<section id="audit" aria-labelledby="audit-h"><h2 id="audit-h">Audit trail</h2><div class="table-wrap" role="region" aria-labelledby="audit-h" tabindex="0"><table>
<thead><tr><th scope="col">At</th><th scope="col">Actor</th><th scope="col">Event</th><th scope="col">Reason</th><th scope="col">Detail</th></tr></thead>
<tbody>${audit.length ? audit : html`<tr><td colspan="5">Nothing recorded yet.</td></tr>`}</tbody></table></div></section>`;
}
