#!/usr/bin/env node
/**
 * The one set-up step of the test command: installs everything the tests need beyond npm (the
 * official Temporal servers, database servers, emulators, Chromium) into the git-ignored `.tools/`
 * folder, or from Debian's packages where a system package is the real part. Idempotent: a tool
 * already present at its pinned version is reused, so a second run costs a few stat calls.
 *
 * Plain Node (no TypeScript, no dependencies) because it runs before anything else is built.
 * `node scripts/setup-tools.mjs [name ...]` installs only the named tools; `--list` prints them.
 * The paths it writes are read back by test/harness/tools.ts and by `rotor dev` (dev/tools.ts).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const toolsDir = process.env.ROTOR_TOOLS_DIR ? resolve(process.env.ROTOR_TOOLS_DIR) : join(root, '.tools');
const binDir = join(toolsDir, 'bin');

/** Pinned versions: the servers the tests run against. README names the same. */
export const versions = {
  // Newest Temporal CLI whose go.mod has no replace directive (v1.6.0+ refuse `go install`): server 1.29.1, UI 2.42.1.
  temporalCli: 'v1.5.1',
  // The Java SDK's time-skipping test server.
  temporalTestServer: '1.32.1',
  // moto's stand-alone server (IAM, STS, Secrets Manager), a second opinion beside our AWS emulator.
  moto: '5.2.5',
  // Renders and lints the Kubernetes chart (deploy/helm/rotor) in its test.
  helm: 'v3.22.0',
};

/** Bumped when a tool's install recipe changes, so a cached copy made the old way is redone. */
const recipe = { temporalTestServer: 2 };

class MissingToolchain extends Error {}

function log(message) {
  process.stderr.write(`[setup] ${message}\n`);
}

function has(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}`);
}

function need(command, why, how) {
  if (!has(command)) throw new MissingToolchain(`${command} is missing: it is needed to ${why}. ${how}`);
}

/** A marker file next to a tool records the version it was installed at. */
function installedAt(marker) {
  try {
    return readFileSync(marker, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
let aptUpdated = false;

/** Debian packages: installed with apt-get when root; otherwise the message says what to run. */
function aptInstall(packages, binaries) {
  const missing = packages.filter((_, i) => !existsSync(binaries[i]));
  if (!missing.length) return false;
  if (!isRoot || !has('apt-get')) {
    throw new MissingToolchain(`Debian packages ${missing.join(' ')} are missing; run as root: apt-get update && apt-get install -y ${missing.join(' ')}`);
  }
  if (!aptUpdated) {
    log('apt-get update');
    run('apt-get', ['update', '-qq']);
    aptUpdated = true;
  }
  log(`apt-get install ${missing.join(' ')}`);
  run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return true;
}

/**
 * Each tool: `present()` says whether it is installed at its pin, `install()` installs it.
 * A new tool is one entry here and one path in test/harness/tools.ts.
 */
export const tools = [
  {
    name: 'temporal-cli',
    what: `Temporal CLI ${versions.temporalCli} (the dev server and Web UI)`,
    present: () => existsSync(join(binDir, 'temporal')) && installedAt(join(toolsDir, 'temporal-cli.version')) === versions.temporalCli,
    install() {
      need('go', 'build the Temporal CLI (the official dev server)', 'Install Go 1.22 or newer and put it on PATH.');
      run('go', ['install', `github.com/temporalio/cli/cmd/temporal@${versions.temporalCli}`], {
        env: { ...process.env, GOBIN: binDir, CGO_ENABLED: '0', GOFLAGS: '-trimpath' },
      });
      writeFileSync(join(toolsDir, 'temporal-cli.version'), `${versions.temporalCli}\n`);
    },
  },
  {
    name: 'temporal-test-server',
    what: `Temporal time-skipping test server ${versions.temporalTestServer} (io.temporal:temporal-test-server)`,
    present: () =>
      existsSync(join(binDir, 'temporal-test-server')) &&
      installedAt(join(toolsDir, 'temporal-test-server.version')) === `${versions.temporalTestServer}+${recipe.temporalTestServer}`,
    install() {
      need('java', 'run the Temporal test server', 'Install a Java 17+ runtime (Debian: openjdk-17-jre-headless).');
      need('mvn', 'fetch the Temporal test server from Maven Central', 'Install Apache Maven (Debian: maven).');
      const dir = join(toolsDir, 'temporal-test-server');
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'pom.xml'), pom('temporal-test-server', [
        ['io.temporal', 'temporal-test-server', versions.temporalTestServer],
        // The server logs through SLF4J 1.7 and prints a warning at every start without a binding.
        ['org.slf4j', 'slf4j-nop', '1.7.36'],
      ]));
      run('mvn', ['-q', '-B', '-f', join(dir, 'pom.xml'), 'dependency:copy-dependencies', `-DoutputDirectory=${join(dir, 'lib')}`]);
      writeExecutable(
        join(binDir, 'temporal-test-server'),
        `#!/bin/sh\n# Temporal's time-skipping test server: <port> [--enable-time-skipping]\nexec java -Xss4m -Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp '${join(dir, 'lib')}/*' io.temporal.testserver.TestServer "$@"\n`,
      );
      writeFileSync(join(toolsDir, 'temporal-test-server.version'), `${versions.temporalTestServer}+${recipe.temporalTestServer}\n`);
    },
  },
  {
    name: 'moto',
    what: `moto[server] ${versions.moto} (a third-party AWS emulator: IAM, STS, Secrets Manager) in a Python venv`,
    present: () => existsSync(join(binDir, 'moto_server')) && installedAt(join(toolsDir, 'moto.version')) === versions.moto,
    install() {
      need('python3', 'run moto, the third-party AWS emulator', 'Install Python 3.9+ with venv (Debian: python3-venv).');
      const venv = join(toolsDir, 'moto-venv');
      rmSync(venv, { recursive: true, force: true });
      run('python3', ['-m', 'venv', venv]);
      run(join(venv, 'bin', 'pip'), ['install', '--quiet', '--disable-pip-version-check', `moto[server]==${versions.moto}`]);
      writeExecutable(join(binDir, 'moto_server'), `#!/bin/sh\n# moto's AWS emulator: -H 127.0.0.1 -p <port>\nexec '${join(venv, 'bin', 'moto_server')}' "$@"\n`);
      writeFileSync(join(toolsDir, 'moto.version'), `${versions.moto}\n`);
    },
  },
  // Real database and directory servers for the mysql-password, redis-acl-password and ldap-password
  // providers, from Debian: the harness (test/harness/servers/) starts each on a loopback port in a temp dir.
  debianServer('mariadb-server', 'MariaDB server (Debian mariadb-server; mysql-password tests)', ['mariadb-server'], ['/usr/sbin/mariadbd', '/usr/bin/mariadb-install-db']),
  debianServer('redis-server', 'Redis server (Debian redis-server; redis-acl-password tests)', ['redis-server'], ['/usr/bin/redis-server']),
  debianServer('slapd', 'OpenLDAP slapd (Debian slapd + ldap-utils; ldap-password tests)', ['slapd', 'ldap-utils'], ['/usr/sbin/slapd', '/usr/bin/ldapsearch']),
  {
    name: 'chromium',
    what: "Debian's Chromium (the browser test of the Temporal Web UI, driven by playwright-core)",
    present: () => existsSync('/usr/bin/chromium'),
    install: () => aptInstall(['chromium'], ['/usr/bin/chromium']),
  },
  {
    name: 'helm',
    what: `Helm ${versions.helm} (lints and renders the chart under deploy/helm)`,
    present: () => existsSync(join(binDir, 'helm')) && installedAt(join(toolsDir, 'helm.version')) === versions.helm,
    install() {
      need('go', 'build Helm', 'Install Go 1.22 or newer and put it on PATH.');
      run('go', ['install', `helm.sh/helm/v3/cmd/helm@${versions.helm}`], {
        env: { ...process.env, GOBIN: binDir, CGO_ENABLED: '0', GOFLAGS: '-trimpath' },
      });
      writeFileSync(join(toolsDir, 'helm.version'), `${versions.helm}\n`);
    },
  },
];

/** A tool that is a Debian package (or a few): present when its binaries exist; installed with aptInstall. */
function debianServer(name, what, packages, binaries) {
  return {
    name,
    what,
    present: () => binaries.every((b) => existsSync(b)),
    install() {
      // The packages' own services must not start (they would listen on 3306, 6379, 389): Debian's
      // policy-rc.d hook answering 101 tells invoke-rc.d not to, for the time of the install.
      const policy = '/usr/sbin/policy-rc.d';
      const ours = isRoot && !existsSync(policy);
      if (ours) writeExecutable(policy, '#!/bin/sh\n# written by rotor scripts/setup-tools.mjs during apt-get install\nexit 101\n');
      try {
        // aptInstall pairs each package with the binary that proves it is there.
        aptInstall(packages, packages.map((_, i) => binaries[i] ?? binaries[0]));
      } finally {
        if (ours) rmSync(policy, { force: true });
      }
    },
  };
}

/** A throwaway Maven project whose only job is to resolve `deps` with their transitive dependencies. */
export function pom(name, deps) {
  const dependencies = deps
    .map(([g, a, v]) => `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`)
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>rotor.tools</groupId>
  <artifactId>${name}</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
${dependencies}
  </dependencies>
</project>
`;
}

export function writeExecutable(path, text) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  chmodSync(path, 0o755);
}

export { aptInstall, log, need, run, has, MissingToolchain };

function main() {
  const args = process.argv.slice(2);
  if (args.includes('--list')) {
    for (const t of tools) process.stdout.write(`${t.name}\t${t.present() ? 'present' : 'missing'}\t${t.what}\n`);
    return;
  }
  const wanted = args.length ? tools.filter((t) => args.includes(t.name)) : tools;
  const unknown = args.filter((a) => !tools.some((t) => t.name === a));
  if (unknown.length) {
    log(`unknown tool(s): ${unknown.join(', ')}; known: ${tools.map((t) => t.name).join(', ')}`);
    process.exit(2);
  }
  mkdirSync(binDir, { recursive: true });
  for (const tool of wanted) {
    if (tool.present()) continue;
    log(`installing ${tool.what} into ${toolsDir}`);
    const started = Date.now();
    try {
      tool.install();
    } catch (error) {
      log(`could not install ${tool.name}: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(error instanceof MissingToolchain ? 3 : 1);
    }
    if (!tool.present()) {
      log(`${tool.name} installed but not found where expected; see the output above`);
      process.exit(1);
    }
    log(`installed ${tool.name} in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  if (!args.length) log(`tests run against: ${wanted.map((t) => t.what).join('; ')}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
