/**
 * A real OpenID Provider for the tests: the certified `oidc-provider` package on a free loopback
 * port, with a few users and their groups, one confidential client that must use PKCE (S256), and
 * its development login form (any password; a user it does not know gets no session: findAccount). Consent is granted up front for
 * Rotor's client (a first-party app), so a login is: authorize → login form → back to Rotor.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import Provider, { type Configuration } from 'oidc-provider';
import { freePort, LOOPBACK } from './ports.js';

export interface OidcUser {
  name: string;
  groups: string[];
}

export interface TestIdp {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Changes what the provider says about a user (e.g. their groups) from the next login on. */
  users: Record<string, OidcUser>;
  close(): Promise<void>;
}

export async function startTestIdp(options: { redirectUris: string[]; users: Record<string, OidcUser> }): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://${LOOPBACK}:${port}`;
  const clientId = 'rotor-console';
  const clientSecret = randomBytes(24).toString('base64url');
  const users = options.users;
  const configuration: Configuration = {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
    ],
    // Every client must send a PKCE challenge (the default requires it of public clients only).
    pkce: { required: () => true },
    scopes: ['openid', 'profile', 'groups'],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], groups: ['groups'] },
    cookies: { keys: [randomBytes(16).toString('hex')] },
    findAccount: (_ctx, id) => {
      const user = users[id];
      if (!user) return undefined;
      return { accountId: id, claims: () => ({ sub: id, name: user.name, preferred_username: id, groups: user.groups }) };
    },
    // First-party client: consent is implied, so the login form is the only interaction.
    loadExistingGrant: async (ctx) => {
      const accountId = ctx.oidc.session?.accountId;
      const client = ctx.oidc.client;
      if (!accountId || !client) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId });
      grant.addOIDCScope('openid profile groups');
      await grant.save();
      return grant;
    },
    features: { devInteractions: { enabled: true } },
  };
  const provider = new Provider(issuer, configuration);
  const server: Server = createServer(provider.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, LOOPBACK, () => resolve());
  });
  return {
    issuer,
    clientId,
    clientSecret,
    users,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A cookie jar for plain fetch: keeps each host's cookies (name=value) across redirects. */
export class CookieJar {
  private readonly jars = new Map<string, Map<string, string>>();

  header(url: string): string {
    const jar = this.jars.get(new URL(url).host);
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  get(url: string, name: string): string | undefined {
    return this.jars.get(new URL(url).host)?.get(name);
  }

  set(url: string, name: string, value: string): void {
    const host = new URL(url).host;
    if (!this.jars.has(host)) this.jars.set(host, new Map());
    this.jars.get(host)!.set(name, value);
  }

  store(url: string, response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
      const host = new URL(url).host;
      if (!this.jars.has(host)) this.jars.set(host, new Map());
      if (expired || value === '') this.jars.get(host)!.delete(name);
      else this.jars.get(host)!.set(name, value);
    }
  }

  /** fetch with this jar, not following redirects. */
  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const cookies = this.header(url);
    if (cookies) headers.set('cookie', cookies);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    this.store(url, response);
    return response;
  }
}

/**
 * Logs `user` in to Rotor through the real authorization-code flow: Rotor's /ui/login, the IdP's
 * authorize endpoint and login form, back to Rotor's /ui/callback. Returns the callback's response
 * (a 303 to the console on success). `tamper` may change the callback URL first (a wrong state).
 */
export async function oidcLogin(
  rotor: string,
  jar: CookieJar,
  user: string,
  tamper?: (callback: URL) => URL,
): Promise<Response> {
  let response = await jar.fetch(`${rotor}/ui/login`);
  if (response.status !== 303) throw new Error(`/ui/login answered ${response.status}: ${await response.text()}`);
  let location = new URL(response.headers.get('location')!, rotor).href;
  // Follow the IdP's redirects until it shows its login form.
  for (let hops = 0; hops < 10 && !location.startsWith(rotor); hops++) {
    response = await jar.fetch(location);
    if (response.status === 200) {
      const html = await response.text();
      const action = /<form[^>]*action="([^"]+)"/.exec(html)?.[1];
      if (!action) throw new Error(`the IdP's page has no form: ${html.slice(0, 300)}`);
      const target = new URL(action.replace(/&amp;/g, '&'), location).href;
      response = await jar.fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ prompt: 'login', login: user, password: 'any' }).toString(),
      });
      if (response.status === 401) throw new Error(`the IdP refused ${user}`);
    }
    const next = response.headers.get('location');
    if (!next) throw new Error(`the IdP answered ${response.status} without a redirect`);
    location = new URL(next, location).href;
  }
  const callback = tamper ? tamper(new URL(location)) : new URL(location);
  return jar.fetch(callback.href);
}
