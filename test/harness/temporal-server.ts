/**
 * The official Temporal servers, started on free loopback ports for one test file:
 *  - `dev`: the Temporal CLI's dev server (`temporal server start-dev`: the real server on
 *    in-memory SQLite, with the Web UI when asked), for everything that runs in real time:
 *    schedules, the daemon, the CLI, the HTTP API.
 *  - `time-skipping`: the Java SDK's test server (io.temporal:temporal-test-server), where a test
 *    needs virtual time: grace timers, drain re-checks, reminders. It jumps to the next timer
 *    whenever no workflow or activity task is outstanding; `advance()` moves virtual time by a
 *    duration and returns once the work that moving triggered has run.
 * Both are installed by scripts/setup-tools.mjs (npm test runs it) into .tools/bin.
 */
import { execFileSync } from 'node:child_process';
import ms from 'ms';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { toolPath } from './tools.js';
import { freePort, LOOPBACK } from './ports.js';
import { watched } from './watched.js';

export type TemporalServerKind = 'dev' | 'time-skipping';

export interface TestServer {
  kind: TemporalServerKind;
  /** `127.0.0.1:PORT` */
  address: string;
  namespace: string;
  /** The Temporal server's version as it reports itself (GetSystemInfo), e.g. `1.29.1`. */
  serverVersion: string;
  /** The Web UI's base URL, when started with `ui: true` (dev server only). */
  uiUrl?: string;
  /** The server's clock, ms since epoch: virtual on the time-skipping server, wall time on the dev server. */
  now(): Promise<number>;
  /**
   * Time-skipping server only: moves virtual time forward by `duration` (ms or '1d'-style), firing
   * every timer due on the way and running what each triggers before moving on.
   */
  advance(duration: number | string): Promise<void>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  kind?: TemporalServerKind;
  /** Dev server: also serve the Web UI on a free loopback port. */
  ui?: boolean;
  namespace?: string;
}

function toMs(duration: number | string): number {
  if (typeof duration === 'number') return duration;
  const parsed = ms(duration as ms.StringValue);
  if (typeof parsed !== 'number' || Number.isNaN(parsed)) throw new Error(`invalid duration: ${duration}`);
  return parsed;
}

/** The dev server's pinned version line, e.g. `temporal version 1.5.1 (Server 1.29.1, UI 2.42.1)`. */
export function temporalCliVersion(): string {
  return execFileSync(toolPath('temporal'), ['--version'], { encoding: 'utf8' }).trim();
}

let announced = false;
/** Once per test process, says on stderr which Temporal server the file runs against. */
function announce(kind: TemporalServerKind, version: string): void {
  if (announced || process.env.ROTOR_QUIET_HARNESS) return;
  announced = true;
  process.stderr.write(`[harness] Temporal ${kind === 'dev' ? 'dev server' : 'time-skipping test server'} ${version}\n`);
}

export async function startTemporalServer(options: TestServerOptions = {}): Promise<TestServer> {
  const kind = options.kind ?? 'time-skipping';
  const namespace = options.namespace ?? 'default';
  const port = await freePort();
  let uiUrl: string | undefined;
  let testEnv: TestWorkflowEnvironment;
  if (kind === 'dev') {
    const uiPort = options.ui ? await freePort() : undefined;
    uiUrl = uiPort ? `http://${LOOPBACK}:${uiPort}` : undefined;
    testEnv = await watched(
      'starting the Temporal dev server',
      TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: toolPath('temporal') },
          ip: LOOPBACK,
          port,
          namespace,
          ui: Boolean(uiPort),
          uiPort,
          log: { format: 'pretty', level: 'error' },
          // Search attributes become visible to queries at once (the dev server's default caches them).
          extraArgs: ['--dynamic-config-value', 'system.forceSearchAttributesCacheRefreshOnRead=true'],
        },
      }),
    );
  } else {
    testEnv = await watched(
      'starting the Temporal time-skipping test server',
      TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: toolPath('temporal-test-server') }, port },
      }),
    );
    // Skip time whenever the server is idle, not only while a client awaits a result: Rotor's
    // tests wait on status queries and the store, not on workflow results.
    await testEnv.connection.testService.unlockTimeSkipping({});
  }
  const info = await testEnv.connection.workflowService.getSystemInfo({});
  const serverVersion = info.serverVersion || (kind === 'dev' ? temporalCliVersion() : 'java-test-server');
  announce(kind, kind === 'dev' ? temporalCliVersion() : `(io.temporal:temporal-test-server, server version ${serverVersion})`);
  let closed: Promise<void> | undefined;
  return {
    kind,
    address: `${LOOPBACK}:${port}`,
    namespace,
    serverVersion,
    uiUrl,
    now: () => testEnv.currentTimeMs(),
    async advance(duration) {
      if (kind !== 'time-skipping') throw new Error('advance() needs the time-skipping server: the dev server runs in real time');
      await testEnv.sleep(toMs(duration));
    },
    close() {
      closed ??= testEnv.teardown();
      return closed;
    },
  };
}
