/**
 * The GCP fixture of the shared end-to-end suite (test/rotation/credential-types): a service
 * account key rotated by `gcp-sa-key`, Secret Manager as the primary store, the shared Vault
 * dependent. Rotor's own identity is another service account, with roles/iam.serviceAccountKeyAdmin,
 * roles/secretmanager.admin and roles/policyanalyzer.activityAnalysisViewer (drain detection: the
 * old key's last authentication) on the project the test accounts and secrets live in.
 * `drainLookback: 0s`, as for Azure: the suite skips workflow time while the emulator records
 * authentications at the real time, so each check must ask exactly "since the previous check".
 */
import { JWT } from 'google-auth-library';
import { fixturePolicy, type CredentialFixture } from '../credential-fixtures.js';
import { gcpFault, GOOGLE_TOKEN_URL, startGcpEmulator, type GcpEmulator } from './index.js';

const PROJECT = 'rotor-e2e';
const ROTOR = 'rotor@rotor-admin.iam.gserviceaccount.com';

/**
 * Whether a key file gets an access token from the emulator's token endpoint, through
 * google-auth-library's JWT client as any consumer of the key would (its token requests go to
 * Google's URL, redirected here).
 */
export async function keyAuthenticates(gcp: GcpEmulator, keyJson: string | undefined): Promise<boolean> {
  if (!keyJson) return false;
  let file: { client_email?: string; private_key?: string; private_key_id?: string };
  try {
    file = JSON.parse(keyJson) as typeof file;
  } catch {
    return false;
  }
  const client = new JWT({ email: file.client_email, key: file.private_key, keyId: file.private_key_id, scopes: ['https://www.googleapis.com/auth/cloud-platform'] });
  client.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(gcp.tokenEndpoint);
      return config;
    },
  });
  return client.authorize().then(
    (tokens) => typeof tokens.access_token === 'string',
    () => false,
  );
}

/** A GCP service-account key, Secret Manager as primary store. */
export function gcpFixture(): CredentialFixture {
  let gcp: GcpEmulator;
  return {
    type: 'gcp-sa-key',
    workflow: 'rotateGcpServiceAccountKey',
    async start(env) {
      gcp = await startGcpEmulator();
      const rotor = await gcp.iam.createServiceAccount(ROTOR);
      gcp.iam.grant(ROTOR, `projects/${PROJECT}`, 'roles/iam.serviceAccountKeyAdmin');
      gcp.iam.grant(ROTOR, `projects/${PROJECT}`, 'roles/secretmanager.admin');
      gcp.iam.grant(ROTOR, `projects/${PROJECT}`, 'roles/policyanalyzer.activityAnalysisViewer');
      env.env.ROTOR_GCP_KEY = rotor.keyJson;
    },
    async prepare(env, id) {
      const account = await gcp.iam.createServiceAccount(`app-${id}@${PROJECT}.iam.gserviceaccount.com`);
      const initial = { keyId: account.keyId, keyJson: account.keyJson };
      const secret = `projects/${PROJECT}/secrets/rotor-${id}`;
      gcp.secretManager.createSecret(secret, { payloads: [JSON.stringify(initial)] });
      const connection = `  tokenEndpoint: ${gcp.tokenEndpoint}
  credentials: env:ROTOR_GCP_KEY`;
      return {
        initial,
        yaml: fixturePolicy(
          env,
          id,
          'Payments API access to Cloud Storage',
          `credential:
  type: gcp-sa-key
  serviceAccount: ${account.email}
  iamEndpoint: ${gcp.iamRootUrl}
  policyAnalyzerEndpoint: ${gcp.policyAnalyzerRootUrl}
  drainLookback: 0s
${connection}
store:
  type: gcp-secret-manager
  secretId: ${secret}
  endpoint: ${gcp.endpoint}
${connection}`,
        ),
        works: (fields) => keyAuthenticates(gcp, fields.keyJson),
        throttleCreate(times) {
          gcp.faults.add({
            match: (r) => r.method === 'POST' && /^\/v1\/projects\/[^/]+\/serviceAccounts\/[^/]+\/keys$/.test(r.path),
            ...gcpFault('RESOURCE_EXHAUSTED', "Quota exceeded for quota metric 'Service account key write requests'. Rate exceeded."),
            times,
          });
        },
        breakVerify: () => gcp.iam.setPropagationDelay(24 * 3_600_000),
        restoreVerify: () => gcp.iam.setPropagationDelay(0),
        issuedSecrets: () => gcp.iam.issuedSecrets(),
      };
    },
    close: async () => gcp?.close(),
  };
}
