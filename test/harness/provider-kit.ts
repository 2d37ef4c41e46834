/**
 * What the provider tests (test/providers) share: a ProviderContext whose logger writes into an
 * in-memory list and whose resolveSecret answers `env:NAME` references from a fixed map, a
 * `rejection` helper that keeps every error it catches for the final no-leak check, and the
 * CreateRequest builders of the credential-source tests.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '../../lib/logger.js';
import type { Material } from '../../lib/material.js';
import type { CreateRequest, MaterialShape, ProviderContext } from '../../providers/contracts.js';

export interface ProviderKitOptions {
  /** The credentialId of every context the kit makes. */
  credentialId: string;
  /** Put before the random UUID of a context made without a rotation id (e.g. `rot-`); none by default. */
  rotationIdPrefix?: string;
  /** Level of the contexts' logger: `debug` by default, so the leak check reads every line a provider writes. */
  logLevel?: string;
  /** The material shape every context carries (a rotated credential type's `produces`), unless context() is given one. */
  material?: MaterialShape;
}

export interface ProviderKit {
  /** Every line any context of this kit logged. */
  readonly logs: string[];
  /** Every error `rejection` caught. */
  readonly errors: Error[];
  /**
   * A context whose resolveSecret answers `env:NAME` with `secrets[NAME]` and throws `unexpected reference`
   * for anything else; a fresh rotation id unless one is given.
   */
  context(secrets: Record<string, string>, rotationId?: string, material?: MaterialShape): ProviderContext;
  /** Awaits a call that must fail and returns its error, kept in `errors`; throws if the call succeeds. */
  rejection(call: Promise<unknown>): Promise<Error>;
  /** The message and stack of every error in `errors`, and every log line, as one text to scan for secrets. */
  errorsAndLogsText(): string;
}

export function createProviderKit(options: ProviderKitOptions): ProviderKit {
  const logs: string[] = [];
  const errors: Error[] = [];

  function context(secrets: Record<string, string>, rotationId = `${options.rotationIdPrefix ?? ''}${randomUUID()}`, material = options.material): ProviderContext {
    const destination = new Writable({
      write(chunk, _encoding, done) {
        logs.push(String(chunk));
        done();
      },
    });
    return {
      rotationId,
      credentialId: options.credentialId,
      logger: createLogger({ level: options.logLevel ?? 'debug', destination }),
      resolveSecret: async (ref) => {
        const name = ref.startsWith('env:') ? ref.slice('env:'.length) : undefined;
        if (name === undefined || !Object.hasOwn(secrets, name)) throw new Error(`unexpected reference ${ref}`);
        return secrets[name]!;
      },
      ...(material ? { material } : {}),
    };
  }

  async function rejection(call: Promise<unknown>): Promise<Error> {
    const error = await call.then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    if (!error) throw new Error('expected the call to fail');
    errors.push(error);
    return error;
  }

  const errorsAndLogsText = () => [...errors.map((e) => `${e.message}\n${e.stack ?? ''}`), ...logs].join('\n');

  return { logs, errors, context, rejection, errorsAndLogsText };
}

/** One stage() call a recordingRequest saw: the material, and how many requests the emulator had seen by then. */
export interface StageCall {
  material: Material;
  requestsSoFar: number;
}

/**
 * A CreateRequest whose stage() records what it got and `requestCount()` at that moment (the emulator's
 * request count), so a test can tell which calls came before the stage and that none came after.
 */
export function recordingRequest(requestCount: () => number, current: Material | null, staged: Material | null = null): { req: CreateRequest; calls: StageCall[] } {
  const calls: StageCall[] = [];
  const req: CreateRequest = {
    staged,
    current,
    stage: async (material) => void calls.push({ material, requestsSoFar: requestCount() }),
  };
  return { req, calls };
}

/** A CreateRequest whose stage() fails, as if the worker died right after the provider made the material. */
export function crashingRequest(current: Material | null): CreateRequest {
  return {
    staged: null,
    current,
    stage: async () => {
      throw new Error('worker died before staging');
    },
  };
}
