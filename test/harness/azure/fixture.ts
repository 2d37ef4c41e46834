/**
 * The Azure fixture of the shared end-to-end suite (test/rotation/credential-types): an app
 * registration's client secret (azure-sp-secret), Key Vault as the primary store, and the shared
 * Vault dependent, all against the Azure emulator over https. Rotor's own identity is an app
 * registration with Application.ReadWrite.OwnedBy (made owner of each app), AuditLog.Read.All (drain
 * detection reads the sign-in log) and the Key Vault Secrets Officer role; its client id, secret and
 * the emulator's CA reach the policy as `env:` refs.
 *
 * `drainLookback: 0s`: the suite skips workflow time while the emulator logs sign-ins at the real
 * time, so a lookback measured back from the real now would still see a sign-in made seconds before
 * however many skipped hours later; with none, each check asks exactly "since the previous check".
 */
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient } from '@azure/keyvault-secrets';
import { fixturePolicy, type CredentialFixture, type Fields } from '../credential-fixtures.js';
import { azureFault, startAzureEmulator, type AzureEmulator, type AzureTestApp } from './index.js';

/** Azure app registration client secret, Key Vault as primary store. */
export function azureFixture(): CredentialFixture {
  let az: AzureEmulator;
  let rotor: AzureTestApp;
  const credential = (tenantId: string, clientId: string, secret: string) =>
    new ClientSecretCredential(tenantId, clientId, secret, { authorityHost: az.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: az.caPem }, retryOptions: { maxRetries: 0 } });

  return {
    type: 'azure-sp-secret',
    workflow: 'rotateAzureClientSecret',
    async start(env) {
      az = await startAzureEmulator();
      rotor = az.directory.registerApp('rotor', { graphPermissions: ['Application.ReadWrite.OwnedBy', 'AuditLog.Read.All'] });
      az.keyVault.grant(rotor.clientId, 'Key Vault Secrets Officer');
      env.env.ROTOR_AZURE_CLIENT_ID = rotor.clientId;
      env.env.ROTOR_AZURE_CLIENT_SECRET = rotor.clientSecret;
      env.env.AZURE_CA_PEM = az.caPem;
    },
    async prepare(env, id) {
      const app = az.directory.registerApp(`app-${id}`);
      az.directory.addOwner(app.objectId, rotor.clientId);
      const initial: Fields = { keyId: app.keyId, clientId: app.clientId, clientSecret: app.clientSecret, tenantId: az.tenantId };
      const secretName = `rotor-${id}`;
      const kv = new SecretClient(az.vaultUrl, credential(az.tenantId, rotor.clientId, rotor.clientSecret), {
        disableChallengeResourceVerification: true,
        tlsOptions: { ca: az.caPem },
      });
      await kv.setSecret(secretName, JSON.stringify(initial));
      const connection = `  tenantId: ${az.tenantId}
  authorityHost: ${az.authorityHost}
  credentials:
    clientId: env:ROTOR_AZURE_CLIENT_ID
    clientSecret: env:ROTOR_AZURE_CLIENT_SECRET
  caCertificate: env:AZURE_CA_PEM`;
      return {
        initial,
        yaml: fixturePolicy(
          env,
          id,
          'Payments API access to Microsoft Graph',
          `credential:
  type: azure-sp-secret
  applicationObjectId: ${app.objectId}
  clientId: ${app.clientId}
  secretLifetime: 180d
  graphEndpoint: ${az.graphEndpoint}
  drainLookback: 0s
${connection}
store:
  type: azure-key-vault
  vaultUrl: ${az.vaultUrl}
  secretName: ${secretName}
  disableChallengeResourceVerification: true
${connection}`,
        ),
        async works(fields) {
          return credential(fields.tenantId!, fields.clientId!, fields.clientSecret!)
            .getToken('https://graph.microsoft.com/.default')
            .then(
              () => true,
              () => false,
            );
        },
        throttleCreate(times) {
          az.faults.add({
            match: (r) => r.path === `/v1.0/applications/${app.objectId}/addPassword`,
            status: 429,
            ...azureFault('graph', 'TooManyRequests', 'Too many requests.'),
            times,
          });
        },
        breakVerify: () => az.directory.setPropagationDelay(24 * 3_600_000),
        restoreVerify: () => az.directory.setPropagationDelay(0),
        issuedSecrets: () => az.directory.issuedSecrets(),
      };
    },
    close: async () => az?.close(),
  };
}
