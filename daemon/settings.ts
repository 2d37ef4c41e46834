/**
 * Runtime settings of the daemon and CLI, from the environment (flags override where given).
 * Temporal's own settings (TEMPORAL_*) are read by daemon/temporal-connection.ts.
 */
export interface Settings {
  databaseUrl: string;
  taskQueue: string;
  policyDir: string;
  /** Vault used to resolve `vault:` secret references (address + token reference). */
  vaultAddress?: string;
  vaultToken?: string;
  httpHost: string;
  httpPort: number;
  /** Secret reference of the HTTP API's bearer token. */
  apiTokenRef?: string;
  /** Secret reference of the GitHub webhook secret; enables /v1/hooks/github/secret-scanning. */
  githubWebhookSecretRef?: string;
  /** How long in-flight activities may finish after SIGTERM (a duration like `30s`); checked by the daemon command. */
  shutdownGrace?: string;
  /** A workflow bundle written by `rotor bundle-workflows`; without it the workflows are bundled at start. */
  workflowBundle?: string;
  /** Runs the worker keeps in memory (a positive integer); checked by the daemon and worker commands. */
  workflowCacheSize?: string;
  /** HTTP limits (daemon/http.ts HttpLimits); unset: the defaults there. */
  httpMaxConnections?: number;
  httpRequestsPerMinute?: number;
  /** The Temporal UI's base URL (ROTOR_TEMPORAL_UI_URL): the console links each run to its page there. */
  temporalUiUrl?: string;
}

/** The settings whose values are secret references: a value that is not one is refused by name, unprinted. */
export const SECRET_REF_SETTINGS = ['ROTOR_API_TOKEN_REF', 'ROTOR_GITHUB_WEBHOOK_SECRET_REF', 'VAULT_TOKEN_REF', 'ROTOR_OIDC_CLIENT_SECRET_REF', 'ROTOR_SESSION_KEY_REF'] as const;

export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  return {
    databaseUrl: env.ROTOR_DATABASE_URL ?? 'postgres://rotor@127.0.0.1:5432/rotor',
    taskQueue: env.ROTOR_TASK_QUEUE ?? 'rotor',
    policyDir: env.ROTOR_POLICIES ?? 'config/examples',
    vaultAddress: env.VAULT_ADDR,
    vaultToken: env.VAULT_TOKEN_REF,
    httpHost: env.ROTOR_HTTP_HOST ?? '127.0.0.1',
    httpPort: Number(env.ROTOR_HTTP_PORT ?? 8088),
    apiTokenRef: env.ROTOR_API_TOKEN_REF,
    githubWebhookSecretRef: env.ROTOR_GITHUB_WEBHOOK_SECRET_REF,
    shutdownGrace: env.ROTOR_SHUTDOWN_GRACE,
    workflowBundle: env.ROTOR_WORKFLOW_BUNDLE,
    workflowCacheSize: env.ROTOR_WORKFLOW_CACHE_SIZE,
    httpMaxConnections: positiveInteger(env.ROTOR_HTTP_MAX_CONNECTIONS),
    httpRequestsPerMinute: positiveInteger(env.ROTOR_HTTP_REQUESTS_PER_MINUTE),
    temporalUiUrl: httpUrl(env.ROTOR_TEMPORAL_UI_URL),
  };
}

/** An http(s) URL, or undefined (anything else would become a link of every page: dropped). */
function httpUrl(text: string | undefined): string | undefined {
  if (!text || text.length > 500) return undefined;
  try {
    return ['http:', 'https:'].includes(new URL(text).protocol) ? text : undefined;
  } catch {
    return undefined;
  }
}

function positiveInteger(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
