/**
 * Client secrets of a Microsoft Entra app registration (service principal), `dual` only: an
 * application can hold several secrets, so the new one is added beside the one in service and the
 * old one is removed after dependents moved. Entra ID has no way to disable a secret, so there is
 * no disable/enable step: the old secret stays valid through the grace period, then is removed.
 *
 * Material is `Material(<keyId>, { keyId, clientId, clientSecret, tenantId })`: what a consumer
 * needs to sign in, plus the keyId so stores can give the material its id back.
 *
 * Each secret Rotor adds is named `rotor:<rotationId>` (its displayName) and expires after
 * `secretLifetime`. Its text exists only in addPassword's reply, so create stages it at once.
 *
 * Orphans. An attempt that dies between addPassword and staging leaves a secret whose text is
 * lost for good: Graph never returns a secret's text again. A later attempt of the same rotation
 * (which then has no staged material) therefore removes every secret named `rotor:<rotationId>`
 * and adds a fresh one, so a retry never leaves two new secrets behind.
 *
 * Verify signs in as the application with the new secret (client-credentials grant for Microsoft
 * Graph). Entra ID replicates a new secret for up to a few minutes, during which it is refused with
 * invalid_client: verify then throws a plain Error, so the activity retries until it works.
 *
 * Drain detection (`drainSignal: sign-in-logs`, the default) reads Entra ID's sign-in log: every
 * client-credentials sign-in of a service principal is logged with `servicePrincipalCredentialKeyId`,
 * the keyId of the secret it used. The old secret is in use while sign-ins name its keyId. The log
 * is read on Graph's beta endpoint (`GET /beta/auditLogs/signIns`, filtered by appId, createdDateTime
 * and `signInEventTypes/any(t: t eq 'servicePrincipal')`): v1.0 does not list service-principal
 * sign-ins. Two lags make short windows lie, so each check reads back at least `drainLookback`
 * (default 2h): a client signs in only when its cached token (60 to 90 minutes) expires, and Entra
 * ID writes a sign-in to the log a few minutes after it happened. Sign-ins Rotor cannot all read
 * (more than a few pages) count as still in use. When Graph refuses (no AuditLog.Read.All, no
 * P1/P2 licence) the check is a refusal saying so: an unknown answer is never taken for "drained";
 * `drainSignal: none` is the explicit way to rely on the grace period alone.
 *
 * Rotor's identity needs the Microsoft Graph application permission Application.ReadWrite.OwnedBy
 * and to be an owner of the application (least privilege: it can then manage only the apps it
 * owns), or Application.ReadWrite.All (every app in the tenant); for drain detection also
 * AuditLog.Read.All, with an Entra ID P1 or P2 licence in the tenant. All need admin consent. The
 * calls: GET /applications/{id}, POST /applications/{id}/addPassword, POST …/removePassword,
 * GET /beta/auditLogs/signIns. Verify needs no permission: any application may sign in as itself.
 *
 * Posture (`privileges`, posture.ts) names the grants of the application's service principal that
 * can take over the tenant: Graph application permissions such as Directory.ReadWrite.All or
 * Application.ReadWrite.All, and directory roles such as Global Administrator. For it Rotor's
 * identity also needs Application.Read.All (or Directory.Read.All), and RoleManagement.Read.Directory
 * to name the directory roles the service principal holds (Directory.Read.All covers both). The
 * calls: GET /servicePrincipals(appId='{clientId}'), GET /servicePrincipals/{id}/appRoleAssignments,
 * GET /servicePrincipals/{id}/transitiveMemberOf, and Microsoft Graph's own service principal's appRoles.
 */
import { durationMs } from '../../config/duration.js';
import { Material } from '../../lib/material.js';
import {
  defineCredential,
  ProviderRefusal,
  type CreateRequest,
  type CredentialSource,
  type DiscoveredCredential,
  type ProviderContext,
  type Usage,
  type Strategy,
} from '../contracts.js';
import { azureError, azureTls, clientSecretCredential, signInRefusals } from '../azure-shared.js';
import { GraphApplications, graphScope, type ApplicationInfo, type PasswordInfo, type SignInLimits } from './graph.js';
import { servicePrincipalPrivileges } from './posture.js';
import { AzureSpSecretSpecSchema, type AzureSpSecretSpec } from './spec.js';

export { AzureSpSecretSpecSchema, type AzureSpSecretSpec } from './spec.js';
export { graphScope } from './graph.js';
export { PRIVILEGED_ROLES, TAKEOVER_PERMISSIONS } from './posture.js';


/** The displayName of the secret a rotation adds: how a retry finds the secret an earlier attempt added. */
export const secretName = (rotationId: string): string => `rotor:${rotationId}`;

const sameId = (a: string, b: string | undefined) => b !== undefined && a.toLowerCase() === b.toLowerCase();
const unexpired = (p: PasswordInfo, now = Date.now()) => !p.endDateTime || p.endDateTime.getTime() > now;

/** The application read back must be the one the spec names by client id too: a mixed-up pair is refused. */
function requireSameApp(spec: AzureSpSecretSpec, app: ApplicationInfo): void {
  if (app.appId && app.appId.toLowerCase() !== spec.clientId.toLowerCase()) {
    throw new ProviderRefusal(
      `application ${spec.applicationObjectId} has client id ${app.appId}, not ${spec.clientId}: applicationObjectId and clientId must name the same app registration`,
    );
  }
}

async function create(ctx: ProviderContext, spec: AzureSpSecretSpec, strategy: Strategy, req: CreateRequest): Promise<Material> {
  if (strategy !== 'dual') throw new ProviderRefusal('azure-sp-secret supports only the dual strategy: a client secret cannot be changed in place');
  return GraphApplications.use(ctx, spec, async (graph) => {
    const app = await graph.application();
    requireSameApp(spec, app);
    if (req.staged) {
      // A retry: the secret this rotation added is the one to use; a second one is never added.
      if (!app.passwords.some((p) => sameId(p.keyId, req.staged!.id))) {
        throw new ProviderRefusal(`client secret ${req.staged.id} staged by this rotation no longer exists on application ${spec.applicationObjectId}: roll back and rotate again`);
      }
      ctx.logger.info({ applicationObjectId: spec.applicationObjectId, keyId: req.staged.id, reused: true }, 'azure client secret found from an earlier attempt');
      return req.staged;
    }
    // Secrets an interrupted attempt of this rotation added: their text is lost, remove them (see the header).
    for (const orphan of app.passwords.filter((p) => p.displayName === secretName(ctx.rotationId) && !sameId(p.keyId, req.current?.id))) {
      await graph.removePassword(orphan.keyId);
      ctx.logger.warn({ applicationObjectId: spec.applicationObjectId, keyId: orphan.keyId }, 'removed a client secret an interrupted attempt of this rotation added but never staged');
    }
    const endDateTime = new Date(Date.now() + durationMs(spec.secretLifetime));
    const added = await graph.addPassword(secretName(ctx.rotationId), endDateTime);
    const material = new Material(added.keyId, { keyId: added.keyId, clientId: spec.clientId, clientSecret: added.secretText, tenantId: spec.tenantId });
    // Staged before anything else can fail: the secret's text exists only in this reply.
    await req.stage(material);
    ctx.logger.info({ applicationObjectId: spec.applicationObjectId, keyId: material.id, endDateTime: endDateTime.toISOString() }, 'azure client secret added');
    return material;
  });
}

async function verify(ctx: ProviderContext, spec: AzureSpSecretSpec, material: Material): Promise<void> {
  const clientId = material.has('clientId') ? material.reveal('clientId') : spec.clientId;
  if (clientId.toLowerCase() !== spec.clientId.toLowerCase()) {
    throw new ProviderRefusal(`client secret ${material.id} belongs to client ${clientId}, not to application ${spec.clientId}`);
  }
  const secret = material.reveal('clientSecret');
  const tls = await azureTls(ctx, spec);
  try {
    await (await clientSecretCredential(spec, clientId, secret, tls)).getToken(graphScope(spec), { abortSignal: ctx.signal });
  } catch (error) {
    const failure = await azureError(`sign-in of application ${clientId} with client secret ${material.id}`, error, spec, tls, [secret]);
    const refusals = signInRefusals(error);
    if (refusals.includes('AADSTS7000222')) throw new ProviderRefusal(`client secret ${material.id} has already expired: ${failure.message}`);
    if (refusals.includes('invalid_client')) {
      // Entra ID takes a while to accept a new secret everywhere: a plain Error, so the workflow retries.
      throw new Error(`client secret ${material.id} is not accepted yet (Entra ID replicates new secrets, which can take minutes): ${failure.message}`);
    }
    throw failure;
  }
  ctx.logger.info({ clientId, keyId: material.id }, 'azure client secret signs in');
}

async function discard(ctx: ProviderContext, spec: AzureSpSecretSpec, _strategy: Strategy, created: Material, current: Material | null): Promise<void> {
  if (sameId(created.id, current?.id)) throw new ProviderRefusal(`refusing to discard client secret ${created.id}: it is the current material`);
  const removed = await GraphApplications.use(ctx, spec, (graph) => graph.removePassword(created.id));
  ctx.logger.info({ applicationObjectId: spec.applicationObjectId, keyId: created.id, alreadyGone: !removed }, 'azure client secret discarded');
}

async function revoke(ctx: ProviderContext, spec: AzureSpSecretSpec, _strategy: Strategy, old: Material): Promise<void> {
  await GraphApplications.use(ctx, spec, async (graph) => {
    const app = await graph.application();
    if (!app.passwords.some((p) => sameId(p.keyId, old.id))) {
      ctx.logger.info({ applicationObjectId: spec.applicationObjectId, keyId: old.id }, 'azure client secret already removed');
      return;
    }
    // Guard: with no other unexpired secret, the old one is what the application is running on.
    if (!app.passwords.some((p) => !sameId(p.keyId, old.id) && unexpired(p))) {
      throw new ProviderRefusal(`refusing to remove client secret ${old.id}: it is the only unexpired client secret of application ${spec.applicationObjectId}`);
    }
    const removed = await graph.removePassword(old.id);
    ctx.logger.info({ applicationObjectId: spec.applicationObjectId, keyId: old.id, alreadyGone: !removed }, 'azure client secret removed');
  });
}

/** Decommission: removes the secret for good, even the application's last one (revoke refuses that). */
async function retire(ctx: ProviderContext, spec: AzureSpSecretSpec, _strategy: Strategy, material: Material): Promise<void> {
  const removed = await GraphApplications.use(ctx, spec, (graph) => graph.removePassword(material.id));
  ctx.logger.info({ applicationObjectId: spec.applicationObjectId, keyId: material.id, alreadyGone: !removed }, 'azure client secret retired');
}

async function list(ctx: ProviderContext, spec: AzureSpSecretSpec): Promise<DiscoveredCredential[]> {
  const app = await GraphApplications.use(ctx, spec, (graph) => graph.application());
  const now = Date.now();
  return app.passwords.map((p) => ({
    id: p.keyId,
    principal: `${app.displayName || 'application'} (${spec.clientId})`,
    status: unexpired(p, now) ? ('active' as const) : ('expired' as const),
    ...(p.startDateTime ? { createdAt: p.startDateTime.toISOString() } : {}),
    ...(p.endDateTime ? { expiresAt: p.endDateTime.toISOString() } : {}),
    // Graph lists no last use per secret (the sign-in log keeps 30 days at most): unknown.
    usageTracked: false,
  }));
}

/**
 * How much of the sign-in log one check reads: Graph's largest page, a few of them, and well inside
 * the activity's two minutes. A log longer than that counts as still in use (see the header).
 */
export const SIGN_IN_LIMITS: SignInLimits = { top: 1000, maxPages: 10, budgetMs: 60_000 };

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Drain detection: did the old secret sign in since `since` (or within `drainLookback` of now, if
 * that reaches further back)? Graph's refusals are thrown, never read as "not in use".
 */
async function inUse(ctx: ProviderContext, spec: AzureSpSecretSpec, old: Material, since: Date): Promise<Usage> {
  if (spec.drainSignal === 'none') return { inUse: false, detail: 'drain signal disabled by policy (drainSignal: none): revoke relies on the grace period alone' };
  const lookbackMs = durationMs(spec.drainLookback);
  const from = lookbackMs > 0 ? new Date(Math.min(since.getTime(), Date.now() - lookbackMs)) : since;
  const log = await GraphApplications.use(ctx, spec, (graph) => graph.servicePrincipalSignIns(spec.clientId, from, SIGN_IN_LIMITS));
  const used = log.signIns.filter((s) => sameId(old.id, s.keyId ?? undefined));
  ctx.logger.info({ clientId: spec.clientId, keyId: old.id, from: from.toISOString(), read: log.signIns.length, complete: log.complete, withOldSecret: used.length }, 'azure sign-in log read');
  const window = `since ${from.toISOString()}`;
  if (used.length > 0) {
    const latest = Math.max(...used.map((s) => s.createdDateTime?.getTime() ?? from.getTime()));
    const failed = used.filter((s) => s.errorCode !== 0).length;
    return {
      inUse: true,
      detail: `client secret ${old.id} signed in ${new Date(latest).toISOString()} (${log.complete ? '' : 'at least '}${plural(used.length, 'sign-in')} ${window}${failed > 0 ? `, ${failed} failed` : ''})`,
    };
  }
  if (!log.complete) {
    return {
      inUse: true,
      detail:
        `cannot tell whether client secret ${old.id} is still used: application ${spec.clientId} has more sign-ins ${window} than Rotor reads in one check ` +
        `(it read the newest ${log.signIns.length}, none with this secret); counted as still in use`,
    };
  }
  return {
    inUse: false,
    detail: `client secret ${old.id} has not signed in ${window} (${plural(log.signIns.length, 'sign-in')} of the application with other credentials; Entra ID logs sign-ins a few minutes late)`,
  };
}

/**
 * Rotor can read the application (which needs the same Graph permission as changing it, short of
 * Application.Read.All), it is the app the spec names, and (with drainSignal sign-in-logs) Rotor
 * can read its sign-in log. Transient failures (throttling, network) are thrown, so the step
 * retries instead of failing the rotation.
 */
async function preflight(ctx: ProviderContext, spec: AzureSpSecretSpec): Promise<string[]> {
  const problems: string[] = [];
  const refused = (error: unknown) => {
    if (!(error instanceof ProviderRefusal)) throw error;
    problems.push(error.message);
  };
  await GraphApplications.use(ctx, spec, async (graph) => {
    try {
      requireSameApp(spec, await graph.application());
    } catch (error) {
      refused(error);
      // Rotor cannot sign in at all: the sign-in log would only say that again.
      if ((error as Error).message.includes('cannot sign in to tenant')) return;
    }
    if (spec.drainSignal !== 'sign-in-logs') return;
    try {
      await graph.servicePrincipalSignIns(spec.clientId, new Date(), { top: 1, maxPages: 1, budgetMs: SIGN_IN_LIMITS.budgetMs });
    } catch (error) {
      refused(error);
    }
  }).catch(refused); // Rotor's own settings (its CA, its secret references) refused before any call
  return problems;
}

const source: CredentialSource<AzureSpSecretSpec> = {
  strategies: ['dual'],
  create,
  verify,
  discard,
  revoke,
  list,
  inUse,
  preflight,
  privileges: servicePrincipalPrivileges,
  retire,
};

export const azureSpSecret = defineCredential({
  type: 'azure-sp-secret',
  workflow: 'rotateAzureClientSecret',
  defaultEvery: '90d',
  maxAgeDays: 90,
  produces: { fields: ['keyId', 'clientId', 'clientSecret', 'tenantId'], idField: 'keyId' },
  spec: AzureSpSecretSpecSchema,
  source,
});
