/**
 * One GitHub encrypted secret (Actions, Dependabot or Codespaces; repository, environment or organization) over
 * Octokit: its metadata, a sealed write and a delete. The routes of the seven places differ only in
 * their prefix, so they are built from the spec instead of picking among dozens of Octokit methods.
 */
import { sealForGitHub } from './sealed-box.js';
import { ProviderRefusal, type ProviderContext } from '../contracts.js';
import { connectGitHub, GitHubRefusal, type GitHubApi, type GitHubParams } from './github.js';
import type { GitHubActionsSecretSpec } from './spec.js';

const KIND_LABELS = { actions: 'Actions', dependabot: 'Dependabot', codespaces: 'Codespaces' } as const;

/** GitHub refuses secret values over 48 KB. */
const MAX_VALUE_BYTES = 48 * 1024;

export interface SecretMetadata {
  name: string;
  created_at: string;
  updated_at: string;
}

export class GitHubSecret {
  readonly #prefix: string;
  readonly #params: GitHubParams;
  /** E.g. `Actions secret DEPLOY_TOKEN of acme/app environment prod`, for errors and logs. */
  readonly where: string;

  constructor(
    readonly api: GitHubApi,
    readonly spec: GitHubActionsSecretSpec,
  ) {
    const { target, kind } = spec;
    const label = `${KIND_LABELS[kind]} secret ${spec.secretName}`;
    if ('org' in target) {
      this.#prefix = `/orgs/{org}/${kind}/secrets`;
      this.#params = { org: target.org };
      this.where = `${label} of organization ${target.org}`;
    } else {
      const [owner, repo] = target.repo.split('/') as [string, string];
      const environment = 'environment' in target ? target.environment : undefined;
      this.#prefix = environment ? '/repos/{owner}/{repo}/environments/{environment_name}/secrets' : `/repos/{owner}/{repo}/${kind}/secrets`;
      this.#params = environment ? { owner, repo, environment_name: environment } : { owner, repo };
      this.where = `${label} of ${target.repo}${environment ? ` environment ${environment}` : ''}`;
    }
  }

  /** name, created_at, updated_at; null when the secret does not exist. */
  metadata(): Promise<SecretMetadata | null> {
    return this.api.optional<SecretMetadata>(`cannot read ${this.where}`, `GET ${this.#prefix}/{secret_name}`, this.#name());
  }

  /** Seals `value` with the target's current public key and writes it. */
  async put(value: string): Promise<void> {
    if (Buffer.byteLength(value, 'utf8') > MAX_VALUE_BYTES) throw new ProviderRefusal(`cannot write ${this.where}: the value exceeds GitHub's 48 KB limit`);
    const { target } = this.spec;
    const visibility = 'org' in target ? { visibility: target.visibility, ...(target.selectedRepositoryIds ? { selected_repository_ids: target.selectedRepositoryIds } : {}) } : {};
    const write = async () => {
      const key = await this.api.request<{ key_id: string; key: string }>(`cannot read the public key for ${this.where}`, `GET ${this.#prefix}/public-key`, this.#params);
      const encrypted = await sealForGitHub(key.key, value);
      await this.api.request(`cannot write ${this.where}`, `PUT ${this.#prefix}/{secret_name}`, { ...this.#name(), encrypted_value: encrypted, key_id: key.key_id, ...visibility });
    };
    try {
      await write();
    } catch (error) {
      // GitHub rotated the public key between our read and write (a stale key_id is a 422): seal again, once.
      if (!(error instanceof GitHubRefusal && error.status === 422)) throw error;
      this.api.ctx.logger.warn({ target: this.where }, 'GitHub refused the sealed value (422); sealing again with a fresh public key');
      await write();
    }
  }

  /** Deletes the secret; deleting one that is not there succeeds. */
  async delete(): Promise<void> {
    await this.api.optional(`cannot delete ${this.where}`, `DELETE ${this.#prefix}/{secret_name}`, this.#name());
  }

  #name(): GitHubParams {
    return { ...this.#params, secret_name: this.spec.secretName };
  }
}

export async function openSecret(ctx: ProviderContext, spec: GitHubActionsSecretSpec): Promise<GitHubSecret> {
  return new GitHubSecret(await connectGitHub(ctx, spec), spec);
}
