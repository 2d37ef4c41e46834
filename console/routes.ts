/**
 * The web console under /ui, on the daemon's HTTP server: inventory, a page per credential, posture,
 * and actions posted as forms (reason, confirmation, CSRF token). Server-rendered (lib/html.ts
 * escapes every value); a strict Content-Security-Policy allows only our own stylesheet and script.
 * Who is signed in, the CSRF check and who may do what are identity's (daemon/auth/, registered
 * before the console): pages read request.actor and request.csrfToken, actions go through
 * daemon/actions.ts, the one path the HTTP API takes too.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SEVERITIES, type Severity } from '../audit/types.js';
import { liveRotationStatus } from '../daemon/live-status.js';
import { rotationWorkflowId } from '../daemon/rotations.js';
import { triggerText, upgradedRuns } from '../daemon/history.js';
import type { ActionDeps } from '../daemon/actions.js';
import type { Actor } from '../daemon/auth/actor.js';
import type { Policy } from '../config/policy.js';
import { html } from '../lib/html.js';
import type { RotorStore, RunRow } from '../store/index.js';
import { inventoryFacets, listInventoryPage } from '../store/inventory.js';
import { authorizer, consoleAction, CONSOLE_ACTIONS, type ConsoleAction } from './actions.js';
import { page, type Section } from './layout.js';
import { credentialBody } from './pages/credential.js';
import { inventoryBody, parseInventoryParams, storeQuery } from './pages/inventory.js';
import { postureBody } from './pages/posture.js';
import { PostureCache, subjectsAtOrAbove } from './posture.js';
import { CONSOLE_JS } from './script.js';
import { CONSOLE_CSS } from './style.js';

export interface ConsoleDeps extends ActionDeps {
  store: RotorStore;
  policies: ActionDeps['policies'] & { all(): Policy[] };
  /** Temporal namespace of the runs, for their Temporal UI links. */
  namespace: string;
  /** The Temporal UI's base URL (ROTOR_TEMPORAL_UI_URL), e.g. https://temporal.example.com; no links without it. */
  temporalUiUrl?: string;
  /** Owners allowed to hold credentials, for the orphaned-owner rule (as `rotor audit`). */
  allowedOwners?: () => Promise<string[]>;
  now?: () => Date;
}

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Notices a redirect after an action may show: fixed texts, so a link cannot make the page say anything else. */
const NOTICES: Record<string, string> = {
  started: 'Rotation started.',
  emergency: 'Emergency rotation started.',
  decided: 'Decision accepted.',
};

/** The Temporal UI's page of a run. */
export function temporalRunUrl(base: string, namespace: string, run: Pick<RunRow, 'workflowId' | 'runId'>): string {
  return `${base.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(run.workflowId)}/${encodeURIComponent(run.runId)}/history`;
}

/** Whether the credential's rotation workflow runs now (Temporal's describe: no worker needed). */
async function isRunning(deps: Pick<ConsoleDeps, 'client'>, credentialId: string): Promise<boolean> {
  const described = await deps.client.workflow.getHandle(rotationWorkflowId(credentialId)).describe().catch(() => undefined);
  return described?.status.name === 'RUNNING';
}

function formBody(body: unknown): Record<string, string> {
  return body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, string>) : {};
}

export async function registerConsole(app: FastifyInstance, deps: ConsoleDeps): Promise<void> {
  const now = () => deps.now?.() ?? new Date();
  const posture = new PostureCache({ store: deps.store, policies: () => deps.policies.all(), allowedOwners: deps.allowedOwners ?? (async () => []), now });
  await app.register(async (ui) => {
    if (!ui.hasContentTypeParser('application/x-www-form-urlencoded')) {
      // Forms post urlencoded bodies; Node's URLSearchParams parses them (bounded by the server's bodyLimit).
      ui.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
        const fields: Record<string, string> = {};
        for (const [k, v] of new URLSearchParams(body as string)) if (!(k in fields)) fields[k] = v;
        done(null, fields);
      });
    }
    ui.addHook('onSend', async (_request, reply, payload) => {
      reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
      reply.header('x-content-type-options', 'nosniff');
      reply.header('referrer-policy', 'same-origin');
      reply.header('x-frame-options', 'DENY');
      if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
      return payload;
    });

    const send = (reply: FastifyReply, status: number, title: string, section: Section, body: ReturnType<typeof html>, request: FastifyRequest, actor?: Actor) =>
      reply.code(status).type('text/html; charset=utf-8').send(page({ title, section, actor, csrfToken: request.csrfToken, body }));

    const refuse = (reply: FastifyReply, request: FastifyRequest, actor: Actor | undefined, status: number, message: string) =>
      send(reply, status, status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Refused', 'error', html`<h1>${status === 403 ? 'Not allowed' : status === 404 ? 'Not found' : 'Refused'}</h1><p class="banner error" role="alert">${message}</p><p><a href="/ui/inventory">Back to the inventory</a></p>`, request, actor);

    /** The signed-in actor, or a redirect to the login (GET) / 401 (POST). */
    const signedIn = (request: FastifyRequest, reply: FastifyReply): Actor | undefined => {
      const actor = request.actor;
      if (actor) return actor;
      if (request.method === 'GET') void reply.redirect(`/ui/login?returnTo=${encodeURIComponent(request.url)}`, 303);
      else void reply.code(401).type('text/plain').send('sign in first');
      return undefined;
    };

    ui.get('/ui/static/console.css', async (_request, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'max-age=300').send(CONSOLE_CSS));
    ui.get('/ui/static/console.js', async (_request, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'max-age=300').send(CONSOLE_JS));
    ui.get('/ui', async (_request, reply) => reply.redirect('/ui/inventory', 303));

    ui.get('/ui/inventory', async (request, reply) => {
      const actor = signedIn(request, reply);
      if (!actor) return reply;
      const params = parseInventoryParams(request.query as Record<string, unknown>);
      const current = await posture.get();
      const subjects = params.severity ? subjectsAtOrAbove(current, params.severity) : undefined;
      const [result, facets] = await Promise.all([listInventoryPage(deps.store, storeQuery(params, subjects)), inventoryFacets(deps.store)]);
      return send(reply, 200, 'Inventory', 'inventory', inventoryBody(params, result, facets, current), request, actor);
    });

    ui.get('/ui/posture', async (request, reply) => {
      const actor = signedIn(request, reply);
      if (!actor) return reply;
      const q = request.query as Record<string, unknown>;
      const text = (v: unknown) => (typeof v === 'string' && v.length > 0 && v.length <= 200 ? v : undefined);
      const severity = (SEVERITIES as readonly unknown[]).includes(q.severity) ? (q.severity as Severity) : undefined;
      const pageNo = Math.max(1, Math.min(100_000, Number.parseInt(String(q.page ?? '1'), 10) || 1));
      const current = await posture.get();
      const managed = new Set(current.result.findings.filter((f) => deps.policies.get(f.subject)).map((f) => f.subject));
      return send(reply, 200, 'Posture', 'posture', postureBody(current, { severity, owner: text(q.owner), type: text(q.type), page: pageNo }, (s) => managed.has(s)), request, actor);
    });

    ui.get('/ui/credentials/:id', async (request, reply) => {
      const actor = signedIn(request, reply);
      if (!actor) return reply;
      const id = (request.params as { id: string }).id;
      const credential = await deps.store.getCredential(id);
      if (!credential) return refuse(reply, request, actor, 404, `credential ${id} is not in the inventory`);
      const [runs, upgraded, audit, current] = await Promise.all([deps.store.listRuns(id, 10), upgradedRuns(deps.store, id), deps.store.listAudit({ credentialId: id }), posture.get()]);
      // Running per Temporal, not the store: a rotation waiting for approval has not opened its run yet.
      const running = await isRunning(deps, id);
      const live = running ? await liveRotationStatus(deps.client, id).catch(() => undefined) : undefined;
      const policy: Policy | undefined = deps.policies.get(id) ?? ((await deps.store.policySnapshot(id)) as Policy | undefined);
      const notice = NOTICES[String((request.query as Record<string, unknown>).notice)];
      const allowed = await authorizer(deps, actor, { id, owner: credential.owner }, running);
      const base = deps.temporalUiUrl;
      const body = credentialBody({
        credential,
        policy,
        runs: runs.map((r) => ({ ...r, triggerText: triggerText(r.trigger, upgraded.has(r.rotationId)) })),
        live,
        running,
        findings: current.bySubject.get(id) ?? [],
        findingsAsOf: current.result.generatedAt,
        audit,
        now: now(),
        runHref: base ? (r) => temporalRunUrl(base, deps.namespace, r) : undefined,
        actor,
        csrfToken: request.csrfToken ?? '',
        authorize: allowed,
        notice,
      });
      return send(reply, 200, id, 'credential', body, request, actor);
    });

    ui.post('/ui/credentials/:id/actions/:action', async (request, reply) => {
      const actor = signedIn(request, reply);
      if (!actor) return reply;
      const { id, action } = request.params as { id: string; action: string };
      const form = formBody(request.body);
      // The session's CSRF token was checked by identity's preHandler before this handler runs.
      if (!(CONSOLE_ACTIONS as readonly string[]).includes(action)) return refuse(reply, request, actor, 404, `unknown action ${action}`);
      const reason = (form.reason ?? '').trim();
      if (!reason) return refuse(reply, request, actor, 400, 'give a reason: it is recorded in the audit log');
      if (reason.length > 500) return refuse(reply, request, actor, 400, 'the reason is longer than 500 characters');
      if (form.confirm !== 'yes') return refuse(reply, request, actor, 400, 'tick the confirmation box to confirm the action');
      const outcome = await consoleAction(deps, actor, action as ConsoleAction, id, reason);
      if (!outcome.ok) return refuse(reply, request, actor, outcome.status, outcome.message);
      posture.invalidate();
      const notice = action === 'rotate' ? 'started' : action === 'emergency' ? 'emergency' : 'decided';
      return reply.redirect(`/ui/credentials/${encodeURIComponent(id)}?notice=${notice}`, 303);
    });
  });
}
