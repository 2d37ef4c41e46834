import { z } from 'zod';
import { SecretRefSchema } from '../../config/secret-ref.js';

/** GitLab's own limit on an access token's lifetime. */
export const MAX_EXPIRES_IN_DAYS = 365;

const TokenId = z.int().positive();
/** A project or group: its numeric id or its full path (`group/sub/project`). */
const Resource = z.union([z.int().positive(), z.string().regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, { message: 'must be a numeric id or a full path' })]);

export const GitLabTokenSpecSchema = z
  .strictObject({
    baseUrl: z.url({ protocol: /^https?$/ }).default('https://gitlab.com'),
    /**
     * Rotor's own token (api scope), which calls the rotate endpoint: the owner of a personal token or
     * an administrator; a Maintainer or Owner of the project or group. Optional for `self`, where the
     * current token rotates itself (then it is only used when Rotor holds no current token yet).
     */
    token: SecretRefSchema.optional(),
    /**
     * Which token: a personal access token, a project or group access token (its id when Rotor takes
     * it over; later rotations follow the id of the current material), or `self`: the current token.
     */
    scope: z.union([
      z.literal('self'),
      z.strictObject({ personal: TokenId }),
      z.strictObject({ project: Resource, tokenId: TokenId }),
      z.strictObject({ group: Resource, tokenId: TokenId }),
    ]),
    expiresInDays: z.int().min(1).max(MAX_EXPIRES_IN_DAYS).default(30),
  })
  .refine((spec) => spec.scope === 'self' || spec.token !== undefined, {
    message: 'token is required unless scope is self',
    path: ['token'],
  });

export type GitLabTokenSpec = z.infer<typeof GitLabTokenSpecSchema>;
