import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Real PostgreSQL, a real Temporal worker and emulators start per file: give them room.
    testTimeout: 60_000,
    // Start-up (PostgreSQL, bundling the workflows, workers) competes for two cores with the other
    // file: slow is not hung, and a step still pending after 20 s is named on stderr (harness/env.ts).
    hookTimeout: 120_000,
    // Two cores: files run in parallel processes, but not more than the machine has.
    pool: 'forks',
    maxWorkers: 2,
    env: { METADATA_SERVER_DETECTION: 'none', ROTOR_LOG_LEVEL: 'silent' },
  },
});
