import { z } from 'zod';
import { GitHubConnectionFields, RepoSchema } from '../github-actions-secret/github.js';

export const GitHubDeployKeySpecSchema = z.strictObject({
  ...GitHubConnectionFields,
  /** The repository the key opens, `owner/name`. Rotor's token needs Administration: write on it. */
  repo: RepoSchema,
  /** Read-only keys can clone but not push; GitHub's own default is read-write, Rotor's is read-only. */
  readOnly: z.boolean().default(true),
  /** Start of each key's title; the credential and rotation ids follow, so a key names its rotation. */
  title: z.string().min(1).max(100).default('rotor'),
});

export type GitHubDeployKeySpec = z.infer<typeof GitHubDeployKeySpecSchema>;
