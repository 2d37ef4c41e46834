import { z } from 'zod';
import { GitHubConnectionFields, RepoSchema } from './github.js';

const RepoTarget = z.strictObject({ repo: RepoSchema });
const EnvironmentTarget = z.strictObject({ repo: RepoSchema, environment: z.string().min(1).max(255) });
const OrgTarget = z.strictObject({
  org: z.string().regex(/^[A-Za-z0-9-]+$/, { message: 'must be an organization login' }),
  visibility: z.enum(['all', 'private', 'selected']),
  /** Repositories that may use the secret when visibility is `selected`; kept as they are when absent. */
  selectedRepositoryIds: z.array(z.int().positive()).optional(),
});

export const GitHubActionsSecretSpecSchema = z
  .strictObject({
    ...GitHubConnectionFields,
    target: z.union([EnvironmentTarget, RepoTarget, OrgTarget]),
    /** Actions secrets, or the separate Dependabot or Codespaces secrets (repository and organization only). */
    kind: z.enum(['actions', 'dependabot', 'codespaces']).default('actions'),
    /** GitHub's rules: letters, digits and `_`, not starting with a digit or GITHUB_ (names are case-insensitive). */
    secretName: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { message: 'must contain only letters, digits and _, and not start with a digit' })
      .refine((name) => !/^GITHUB_/i.test(name), { message: 'must not start with GITHUB_ (reserved by GitHub)' }),
    /** The material field written; may be left out only when the material has exactly one field. */
    field: z.string().min(1).optional(),
  })
  .refine((spec) => spec.kind === 'actions' || !('environment' in spec.target), {
    message: 'only Actions has environment secrets: use kind actions, or a repository or organization target',
    path: ['kind'],
  })
  .refine((spec) => !('org' in spec.target && spec.target.selectedRepositoryIds && spec.target.visibility !== 'selected'), {
    message: 'selectedRepositoryIds needs visibility selected',
    path: ['target', 'selectedRepositoryIds'],
  });

export type GitHubActionsSecretSpec = z.infer<typeof GitHubActionsSecretSpecSchema>;
