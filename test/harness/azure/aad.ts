/**
 * The Microsoft Entra ID endpoints that `ClientSecretCredential` (MSAL) calls with
 * `disableInstanceDiscovery: true`:
 * - `GET /{tenant}/v2.0/.well-known/openid-configuration`, the authority metadata;
 * - `POST /{tenant}/oauth2/v2.0/token`, the client-credentials grant with a client secret, for one
 *   `<resource>/.default` scope. Tokens are opaque here (real ones are JWTs; clients must not read them).
 */
import type { Directory } from './directory.js';
import { GRAPH_RESOURCE, VAULT_RESOURCE } from './directory.js';
import { aadError } from './wire.js';

export interface AadReply {
  status: number;
  body: unknown;
}

const RESOURCES = new Set([GRAPH_RESOURCE, VAULT_RESOURCE]);
/** OpenID scopes MSAL may add to a request; they name no resource. */
const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

export function isAadPath(path: string): boolean {
  return /^\/[^/]+\/(v2\.0\/\.well-known\/openid-configuration|oauth2\/v2\.0\/token)$/.test(path);
}

function requireTenant(directory: Directory, tenant: string): void {
  if (tenant.toLowerCase() !== directory.tenantId) {
    throw aadError(
      400,
      'invalid_tenant',
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`,
    );
  }
}

export function openIdConfiguration(directory: Directory, base: string, tenant: string): AadReply {
  requireTenant(directory, tenant);
  const root = `${base}/${directory.tenantId}`;
  return {
    status: 200,
    body: {
      token_endpoint: `${root}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${root}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${root}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${base}/oidc/userinfo`,
      authorization_endpoint: `${root}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${root}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${root}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      tenant_region_scope: null,
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    },
  };
}

/** The one resource of a client-credentials scope list (`https://vault.azure.net/.default`). */
function resourceOf(directory: Directory, scope: string | null): string {
  const scopes = (scope ?? '').split(/\s+/).filter((s) => s && !OIDC_SCOPES.has(s));
  if (scopes.length !== 1 || !scopes[0]!.endsWith('/.default')) {
    throw aadError(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope ?? ''} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    );
  }
  const resource = scopes[0]!.slice(0, -'/.default'.length).replace(/\/$/, '');
  if (!RESOURCES.has(resource)) {
    throw aadError(
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${directory.tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    );
  }
  return resource;
}

/**
 * The client-credentials grant. Entra ID logs the attempt of a known application as a
 * service-principal sign-in, under the request's `client-request-id` as correlation id.
 */
export function tokenRequest(
  directory: Directory,
  tenant: string,
  form: URLSearchParams,
  basicAuth: { id: string; secret: string } | undefined,
  correlationId?: string,
): AadReply {
  requireTenant(directory, tenant);
  const grant = form.get('grant_type');
  if (grant !== 'client_credentials') {
    throw aadError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant ?? ''}'.`);
  }
  const clientId = form.get('client_id') ?? basicAuth?.id;
  if (!clientId) throw aadError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
  const secret = form.get('client_secret') ?? basicAuth?.secret;
  if (!secret) {
    throw aadError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
  }
  const resource = resourceOf(directory, form.get('scope'));
  const app = directory.authenticate(clientId, secret, resource, correlationId);
  const { token, expiresIn } = directory.issueToken(app, resource);
  return { status: 200, body: { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: token } };
}
