/**
 * IAM in memory: projects, service accounts, their keys, and who may do what on which resource,
 * with the IAM v1 REST methods for service-account keys that Rotor uses. Rules kept from GCP:
 * - a key is created by `POST …/keys` and its private key exists only in that reply, as a
 *   base64 credentials file (TYPE_GOOGLE_CREDENTIALS_FILE); IAM keeps only the public key;
 * - at most 10 user-managed keys per service account, disabled ones included: one more is
 *   FAILED_PRECONDITION "Precondition check failed." (GCP's own unhelpful message);
 * - keys are enabled, disabled (reversible) or deleted; each account also has a system-managed
 *   key Google rotates, listed unless `keyTypes` filters it out;
 * - a new key takes a moment before Google's token endpoint accepts it (propagation delay);
 * - a caller without the permission gets PERMISSION_DENIED "Permission '…' denied on resource
 *   (or it may not exist)." whether or not the resource exists; with it, NOT_FOUND when it does not.
 *
 * Permissions are granted per member on a resource (`projects/p/serviceAccounts/e`,
 * `projects/p/secrets/s`) or on a whole project (`projects/p`), by predefined role or by name; a
 * project's IAM policy (resource-manager.ts) grants the permissions of the roles it binds, too.
 */
import type { KeyObject } from 'node:crypto';
import { keyId as newKeyId, numericId, rsaKeyPair } from './crypto.js';
import { GcpError, permissionDenied, timestamp } from './wire.js';

export const USER_MANAGED_KEY_LIMIT = 10;
const NEVER = new Date('9999-12-31T23:59:59Z');

/** Predefined roles the emulator knows, with the permissions GCP documents for them (the relevant part). */
export const ROLES: Record<string, readonly string[]> = {
  'roles/iam.serviceAccountKeyAdmin': [
    'iam.serviceAccountKeys.create',
    'iam.serviceAccountKeys.delete',
    'iam.serviceAccountKeys.disable',
    'iam.serviceAccountKeys.enable',
    'iam.serviceAccountKeys.get',
    'iam.serviceAccountKeys.list',
    'iam.serviceAccounts.get',
    'iam.serviceAccounts.list',
  ],
  'roles/iam.securityReviewer': [
    'iam.roles.get',
    'iam.roles.list',
    'iam.serviceAccounts.getIamPolicy',
    'resourcemanager.projects.getIamPolicy',
    'secretmanager.secrets.getIamPolicy',
  ],
  'roles/policyanalyzer.activityAnalysisViewer': [
    'policyanalyzer.resourceAuthorizationActivities.query',
    'policyanalyzer.serviceAccountKeyLastAuthenticationActivities.query',
    'policyanalyzer.serviceAccountLastAuthenticationActivities.query',
  ],
  'roles/secretmanager.admin': [
    'secretmanager.secrets.create',
    'secretmanager.secrets.delete',
    'secretmanager.secrets.get',
    'secretmanager.secrets.list',
    'secretmanager.secrets.update',
    'secretmanager.versions.access',
    'secretmanager.versions.add',
    'secretmanager.versions.destroy',
    'secretmanager.versions.disable',
    'secretmanager.versions.enable',
    'secretmanager.versions.get',
    'secretmanager.versions.list',
  ],
  'roles/secretmanager.secretAccessor': ['secretmanager.versions.access'],
  'roles/secretmanager.secretVersionManager': [
    'secretmanager.secrets.get',
    'secretmanager.secrets.list',
    'secretmanager.versions.add',
    'secretmanager.versions.destroy',
    'secretmanager.versions.disable',
    'secretmanager.versions.enable',
    'secretmanager.versions.get',
    'secretmanager.versions.list',
  ],
  'roles/secretmanager.viewer': ['secretmanager.secrets.get', 'secretmanager.secrets.list', 'secretmanager.versions.get', 'secretmanager.versions.list'],
};

export interface ProjectRecord {
  id: string;
  number: string;
}

export interface ServiceAccountRecord {
  email: string;
  projectId: string;
  uniqueId: string;
}

export interface KeyRecord {
  id: string;
  email: string;
  publicKey: KeyObject;
  keyType: 'USER_MANAGED' | 'SYSTEM_MANAGED';
  disabled: boolean;
  validAfter: Date;
  validBefore: Date;
  /** Epoch ms from which the token endpoint accepts the key (propagation). */
  usableFrom: number;
}

/** The project of a service-account email: `name@PROJECT.iam.gserviceaccount.com`, `PROJECT@appspot.gserviceaccount.com`. */
export function projectOfEmail(email: string): string | undefined {
  return /^[^@]+@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/.exec(email)?.[1] ?? /^([a-z][a-z0-9-]{4,28}[a-z0-9])@appspot\.gserviceaccount\.com$/.exec(email)?.[1];
}

export class IamState {
  readonly projects = new Map<string, ProjectRecord>();
  readonly accounts = new Map<string, ServiceAccountRecord>();
  readonly keys = new Map<string, KeyRecord>();
  /** member → resource → permissions. */
  readonly grants = new Map<string, Map<string, Set<string>>>();
  /** Every private key and credentials file the emulator handed out, for leak scans. */
  readonly issuedSecrets: string[] = [];
  propagationDelayMs = 0;
  /** Lifetime of new user-managed keys (the iam.serviceAccountKeyExpiryHours constraint); null: never expire. */
  keyLifetimeMs: number | null = null;

  /** Grants of the projects' own IAM policies (resource-manager.ts): whether one gives `member` `permission` on the project. */
  policyGrants: (member: string, projectId: string, permission: string) => boolean = () => false;

  constructor(readonly tokenUri: string) {}

  project(id: string): ProjectRecord {
    let project = this.projects.get(id) ?? [...this.projects.values()].find((p) => p.number === id);
    if (!project) {
      project = { id, number: numericId(12) };
      this.projects.set(id, project);
    }
    return project;
  }

  /** A project named in a path by id or number; NOT_FOUND for one the emulator never saw. */
  knownProject(idOrNumber: string): ProjectRecord {
    const project = this.projects.get(idOrNumber) ?? [...this.projects.values()].find((p) => p.number === idOrNumber);
    if (!project) throw new GcpError('NOT_FOUND', `Project ${idOrNumber} not found.`);
    return project;
  }

  async createServiceAccount(email: string): Promise<ServiceAccountRecord> {
    const projectId = projectOfEmail(email);
    if (!projectId) throw new Error(`not a service-account email of a project: ${email}`);
    if (this.accounts.has(email)) throw new GcpError('ALREADY_EXISTS', `Service account ${email.split('@')[0]} already exists within project projects/${projectId}.`);
    this.project(projectId);
    const account: ServiceAccountRecord = { email, projectId, uniqueId: numericId(21) };
    this.accounts.set(email, account);
    // The key Google holds and rotates itself; its private key never leaves Google.
    const system = await rsaKeyPair();
    const now = new Date();
    const systemKeyId = newKeyId();
    this.keys.set(systemKeyId, {
      id: systemKeyId,
      email,
      publicKey: system.publicKey,
      keyType: 'SYSTEM_MANAGED',
      disabled: false,
      validAfter: now,
      validBefore: new Date(now.getTime() + 14 * 86_400_000),
      usableFrom: Number.POSITIVE_INFINITY,
    });
    return account;
  }

  resourceOf(account: ServiceAccountRecord): string {
    return `projects/${account.projectId}/serviceAccounts/${account.email}`;
  }

  userKeysOf(email: string): KeyRecord[] {
    return [...this.keys.values()].filter((k) => k.email === email && k.keyType === 'USER_MANAGED');
  }

  /**
   * A new user-managed key and its credentials file (JSON text). `immediate` skips the propagation
   * delay (keys a test seeds before Rotor runs).
   */
  async createKey(email: string, options: { immediate?: boolean; disabled?: boolean; validAfter?: Date } = {}): Promise<{ key: KeyRecord; keyFile: string }> {
    const account = this.accounts.get(email);
    if (!account) throw new GcpError('NOT_FOUND', `Service account projects/-/serviceAccounts/${email} does not exist.`);
    if (this.userKeysOf(email).length >= USER_MANAGED_KEY_LIMIT) throw new GcpError('FAILED_PRECONDITION', 'Precondition check failed.');
    const pair = await rsaKeyPair();
    const now = new Date();
    const validAfter = options.validAfter ?? now;
    const key: KeyRecord = {
      id: newKeyId(),
      email,
      publicKey: pair.publicKey,
      keyType: 'USER_MANAGED',
      disabled: options.disabled ?? false,
      validAfter,
      validBefore: this.keyLifetimeMs === null ? NEVER : new Date(validAfter.getTime() + this.keyLifetimeMs),
      usableFrom: options.immediate ? 0 : now.getTime() + this.propagationDelayMs,
    };
    this.keys.set(key.id, key);
    const keyFile = JSON.stringify(
      {
        type: 'service_account',
        project_id: account.projectId,
        private_key_id: key.id,
        private_key: pair.privateKeyPem,
        client_email: email,
        client_id: account.uniqueId,
        auth_uri: 'https://accounts.google.com/o/oauth2/auth',
        token_uri: this.tokenUri,
        auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
        client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
        universe_domain: 'googleapis.com',
      },
      null,
      2,
    );
    // The PEM, its base64 body lines (found in any encoding of the key) and the file as IAM sends it.
    const bodyLines = pair.privateKeyPem.split('\n').filter((l) => l.length === 64);
    this.issuedSecrets.push(pair.privateKeyPem, ...bodyLines.slice(0, 3), Buffer.from(keyFile).toString('base64'));
    return { key, keyFile };
  }

  /** A key the token endpoint may accept now: exists, user-managed, enabled, propagated, not expired. */
  usable(key: KeyRecord | undefined, now = Date.now()): key is KeyRecord {
    return !!key && key.keyType === 'USER_MANAGED' && !key.disabled && now >= key.usableFrom && now < key.validBefore.getTime();
  }

  grant(member: string, resource: string, roleOrPermissions: string | readonly string[]): void {
    const permissions = typeof roleOrPermissions === 'string' ? (roleOrPermissions.startsWith('roles/') ? ROLES[roleOrPermissions] : [roleOrPermissions]) : roleOrPermissions;
    if (!permissions) throw new Error(`the emulator does not know role ${String(roleOrPermissions)}`);
    const byResource = this.grants.get(member) ?? new Map<string, Set<string>>();
    this.grants.set(member, byResource);
    const set = byResource.get(resource) ?? new Set<string>();
    byResource.set(resource, set);
    for (const p of permissions) set.add(p);
  }

  /** Removes grants of a member on a resource: all of them, or the permissions named. */
  revoke(member: string, resource: string, permissions?: readonly string[]): void {
    const set = this.grants.get(member)?.get(resource);
    if (!set) return;
    if (!permissions) set.clear();
    else for (const p of permissions) set.delete(p);
  }

  /** Whether `member` holds `permission` on the resource or on its project, by a grant or by the project's IAM policy. */
  can(member: string, resource: string, permission: string): boolean {
    const project = /^projects\/([^/]+)/.exec(resource);
    if (project && this.policyGrants(member, project[1]!, permission)) return true;
    const byResource = this.grants.get(member);
    if (!byResource) return false;
    return [resource, project?.[0]].some((r) => r !== undefined && byResource.get(r)?.has(permission));
  }

  /** IAM's refusal for a key method: GCP does not say whether the resource exists. */
  private authorize(caller: string, permission: string, resource: string): void {
    if (!this.can(caller, resource, permission)) {
      throw permissionDenied(permission, `Permission '${permission}' denied on resource (or it may not exist).`, 'iam.googleapis.com');
    }
  }

  /**
   * One IAM v1 REST call under `/v1/projects/{project}/serviceAccounts/{account}`; `rest` is what
   * follows the account (`/keys`, `/keys/{id}:disable`, `:testIamPermissions`, '').
   */
  async handle(method: string, projectRef: string, accountRef: string, rest: string, url: URL, body: Record<string, unknown>, caller: string): Promise<unknown> {
    const known = this.accounts.get(accountRef) ?? [...this.accounts.values()].find((a) => a.uniqueId === accountRef);
    const email = known?.email ?? accountRef;
    const projectId = known?.projectId ?? projectOfEmail(email) ?? projectRef;
    const resource = `projects/${projectId}/serviceAccounts/${email}`;
    const account = () => {
      if (!known || (projectRef !== '-' && projectRef !== known.projectId && projectRef !== this.projects.get(known.projectId)?.number)) {
        throw new GcpError('NOT_FOUND', `Service account projects/${projectRef}/serviceAccounts/${accountRef} does not exist.`);
      }
      return known;
    };
    const keyOf = (id: string) => {
      const key = this.keys.get(id);
      if (!key || key.email !== account().email) throw new GcpError('NOT_FOUND', `Service account key ${resource}/keys/${id} does not exist.`);
      return key;
    };

    if (rest === ':testIamPermissions' && method === 'POST') {
      account();
      const asked = Array.isArray(body.permissions) ? body.permissions.filter((p): p is string => typeof p === 'string') : [];
      const granted = asked.filter((p) => this.can(caller, resource, p));
      return granted.length ? { permissions: granted } : {};
    }
    if (rest === '' && method === 'GET') {
      this.authorize(caller, 'iam.serviceAccounts.get', resource);
      const a = account();
      return { name: this.resourceOf(a), projectId: a.projectId, uniqueId: a.uniqueId, email: a.email, oauth2ClientId: a.uniqueId };
    }
    if (rest === '/keys' && method === 'GET') {
      this.authorize(caller, 'iam.serviceAccountKeys.list', resource);
      const a = account();
      const types = url.searchParams.getAll('keyTypes');
      for (const t of types) if (!['USER_MANAGED', 'SYSTEM_MANAGED', 'KEY_TYPE_UNSPECIFIED'].includes(t)) throw invalidEnum('key_types', 'ListServiceAccountKeysRequest.KeyType', t);
      const wanted = types.filter((t) => t !== 'KEY_TYPE_UNSPECIFIED');
      const keys = [...this.keys.values()].filter((k) => k.email === a.email && (wanted.length === 0 || wanted.includes(k.keyType)));
      return keys.length ? { keys: keys.map((k) => this.render(a, k)) } : {};
    }
    if (rest === '/keys' && method === 'POST') {
      this.authorize(caller, 'iam.serviceAccountKeys.create', resource);
      const a = account();
      const algorithm = body.keyAlgorithm ?? 'KEY_ALG_UNSPECIFIED';
      if (!['KEY_ALG_UNSPECIFIED', 'KEY_ALG_RSA_1024', 'KEY_ALG_RSA_2048'].includes(String(algorithm))) throw invalidEnum('key_algorithm', 'ServiceAccountKeyAlgorithm', algorithm);
      if (algorithm === 'KEY_ALG_RSA_1024') throw new GcpError('INVALID_ARGUMENT', 'The emulator makes KEY_ALG_RSA_2048 keys only.');
      const type = body.privateKeyType ?? 'TYPE_UNSPECIFIED';
      if (!['TYPE_UNSPECIFIED', 'TYPE_PKCS12_FILE', 'TYPE_GOOGLE_CREDENTIALS_FILE'].includes(String(type))) throw invalidEnum('private_key_type', 'ServiceAccountPrivateKeyType', type);
      if (type === 'TYPE_PKCS12_FILE') throw new GcpError('INVALID_ARGUMENT', 'The emulator makes TYPE_GOOGLE_CREDENTIALS_FILE keys only.');
      const { key, keyFile } = await this.createKey(a.email);
      return { ...this.render(a, key), privateKeyType: 'TYPE_GOOGLE_CREDENTIALS_FILE', privateKeyData: Buffer.from(keyFile).toString('base64') };
    }
    const keyPath = /^\/keys\/([^/:]+)(:disable|:enable)?$/.exec(rest);
    if (keyPath) {
      const [, id, verb] = keyPath as unknown as [string, string, string | undefined];
      if (!verb && method === 'GET') {
        this.authorize(caller, 'iam.serviceAccountKeys.get', resource);
        return this.render(account(), keyOf(id));
      }
      if (!verb && method === 'DELETE') {
        this.authorize(caller, 'iam.serviceAccountKeys.delete', resource);
        const key = keyOf(id);
        if (key.keyType === 'SYSTEM_MANAGED') throw new GcpError('FAILED_PRECONDITION', 'System-managed keys cannot be deleted.');
        this.keys.delete(key.id);
        return {};
      }
      if (verb && method === 'POST') {
        const disable = verb === ':disable';
        this.authorize(caller, disable ? 'iam.serviceAccountKeys.disable' : 'iam.serviceAccountKeys.enable', resource);
        const key = keyOf(id);
        if (key.keyType === 'SYSTEM_MANAGED') throw new GcpError('FAILED_PRECONDITION', 'System-managed keys cannot be disabled or enabled.');
        key.disabled = disable;
        return {};
      }
    }
    throw new GcpError('NOT_FOUND', `The emulator has no IAM method ${method} ${url.pathname}.`);
  }

  /** A ServiceAccountKey resource without private material; `disabled` appears only when true, as proto3 JSON omits false. */
  private render(account: ServiceAccountRecord, key: KeyRecord): Record<string, unknown> {
    return {
      name: `${this.resourceOf(account)}/keys/${key.id}`,
      validAfterTime: timestamp(key.validAfter),
      validBeforeTime: timestamp(key.validBefore),
      keyAlgorithm: 'KEY_ALG_RSA_2048',
      keyOrigin: 'GOOGLE_PROVIDED',
      keyType: key.keyType,
      ...(key.disabled ? { disabled: true } : {}),
    };
  }
}

function invalidEnum(field: string, type: string, value: unknown): GcpError {
  return new GcpError('INVALID_ARGUMENT', `Invalid value at '${field}' (type.googleapis.com/google.iam.admin.v1.${type}), "${String(value)}"`);
}
