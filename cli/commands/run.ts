/** `rotor daemon`, `rotor worker`, `rotor migrate` and `rotor bundle-workflows`: running Rotor and preparing its store and image. */
import type { Command } from 'commander';
import { addOwnRefs, isSecretRef, secretRefAllowlist } from '../../config/secret-ref.js';
import { authFromEnv } from '../../daemon/auth/config.js';
import { inventoryEntry } from '../../daemon/inventory.js';
import { PolicySet } from '../../daemon/policies.js';
import { startDaemon } from '../../daemon/run.js';
import { createSecretResolver } from '../../daemon/secrets.js';
import { SECRET_REF_SETTINGS } from '../../daemon/settings.js';
import { connectTemporalWorker } from '../../daemon/temporal-connection.js';
import { createRotorWorkers, DEFAULT_SHUTDOWN_GRACE_MS, writeWorkflowBundle } from '../../daemon/worker.js';
import { createLogger } from '../../lib/logger.js';
import { closeProviderConnections } from '../../providers/connection-pools.js';
import { registry } from '../../providers/registry.js';
import { RotorStore } from '../../store/index.js';
import { prebuiltBundle, settings, shutdownGrace, temporalTarget, untilSignalled, UsageError, workflowCacheSize, type GlobalOptions } from '../context.js';

export function registerRunCommands(program: Command, global: () => GlobalOptions): void {
  program
    .command('daemon')
    .description('run the workers, the schedule reconciler (on start, SIGHUP and file change) and the HTTP API')
    .action(async () => {
      const g = global();
      if (!settings.apiTokenRef) throw new UsageError('ROTOR_API_TOKEN_REF must name the HTTP API token (env:NAME or file:/path)');
      const shutdownGraceMs = shutdownGrace();
      const cacheSize = workflowCacheSize();
      for (const name of SECRET_REF_SETTINGS) {
        const value = process.env[name];
        if (value && !isSecretRef(value)) throw new UsageError(`${name} is not a secret reference (env:NAME, file:/path or vault:mount/path#key); its value is not shown`);
      }
      const resolveSecret = createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken });
      const auth = await authFromEnv(process.env, resolveSecret).catch((error: Error) => {
        throw new UsageError(error.message);
      });
      // Policies' references are resolved only where the operator's allowlist allows (Rotor's own above are not policies');
      // the named API tokens are Rotor's own too: no policy may reference them (on this daemon's workers).
      const allow = addOwnRefs(secretRefAllowlist(), auth.tokens.map((t) => t.ref));
      const resolvePolicySecret = createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken, allow });
      const daemon = await startDaemon({
        databaseUrl: g.databaseUrl,
        temporal: temporalTarget(g),
        taskQueue: g.taskQueue,
        policyDir: g.policies,
        http: { host: settings.httpHost, port: settings.httpPort },
        apiToken: await resolveSecret(settings.apiTokenRef),
        auth,
        githubWebhookSecret: settings.githubWebhookSecretRef ? await resolveSecret(settings.githubWebhookSecretRef) : undefined,
        httpLimits: {
          ...(settings.httpMaxConnections ? { maxConnections: settings.httpMaxConnections } : {}),
          ...(settings.httpRequestsPerMinute ? { requestsPerMinute: settings.httpRequestsPerMinute } : {}),
        },
        providers: registry,
        logger: createLogger(),
        resolveSecret: resolvePolicySecret,
        shutdownGraceMs,
        workflowBundle: prebuiltBundle(),
        workflowCacheSize: cacheSize,
      });
      await untilSignalled();
      await daemon.stop();
    });

  program
    .command('worker')
    .description('run the Temporal worker that executes rotations')
    .action(async () => {
      const g = global();
      const cacheSize = workflowCacheSize();
      const logger = createLogger();
      const policies = await PolicySet.load(g.policies, registry.catalog);
      const store = await RotorStore.connect(g.databaseUrl);
      await store.upsertCredentials(policies.all().map((p) => inventoryEntry(p)));
      const target = temporalTarget(g);
      const connection = await connectTemporalWorker(target);
      const workers = await createRotorWorkers({
        connection,
        namespace: target.namespace,
        taskQueue: g.taskQueue,
        store,
        policies,
        providers: registry,
        logger,
        resolveSecret: createSecretResolver({ vaultAddress: settings.vaultAddress, vaultTokenRef: settings.vaultToken, allow: secretRefAllowlist() }),
        policyDir: g.policies,
        workflowBundle: prebuiltBundle(),
        shutdownGraceMs: shutdownGrace() ?? DEFAULT_SHUTDOWN_GRACE_MS,
        workflowCacheSize: cacheSize,
      });
      logger.info({ taskQueue: g.taskQueue, policies: policies.all().length }, 'worker started');
      try {
        await Promise.all(workers.map((w) => w.run()));
      } finally {
        await connection.close();
        await store.close();
        await closeProviderConnections();
      }
    });

  program
    .command('migrate')
    .description('bring the store\'s schema up to date (the daemon does it at start; other commands only check it)')
    .action(async () => {
      const store = await RotorStore.connect(global().databaseUrl, { migrate: true });
      await store.close();
      process.stdout.write('store schema up to date\n');
    });

  program
    .command('bundle-workflows')
    .description('write the workflow bundle to a file, for ROTOR_WORKFLOW_BUNDLE (e.g. at image build)')
    .argument('<file>', 'where to write it')
    .action(async (file: string) => {
      const bytes = await writeWorkflowBundle(file);
      process.stdout.write(`wrote ${file} (${bytes} bytes); run the daemon with ROTOR_WORKFLOW_BUNDLE=${file}\n`);
    });
}
