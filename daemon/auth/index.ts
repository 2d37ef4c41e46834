/** Who may do what: actors and roles, the operator's configuration, the Fastify plugin and the OIDC login. */
export { ACTIONS, actorId, actorRecord, ALL_OWNERS, authorize, cliActor, ROLES, type Action, type Actor, type Authorization, type Role } from './actor.js';
export { AuthConfigError, authFromEnv, legacyToken, loadRolesFile, loadTokensFile, rolesOf, tokenActor, type NamedToken, type OidcSettings, type RoleMap } from './config.js';
export { LOGIN_COOKIE, SESSION_COOKIE } from './oidc.js';
export { escapeHtml, page, refuse } from './pages.js';
export { bearer, CSRF_FIELD, CSRF_HEADER, registerAuth, requireAction, requireActor, tokenMatches, type AuthDeps } from './plugin.js';
export { performAction, ActionRefused, type ActionDeps, type ActionResult } from '../actions.js';
