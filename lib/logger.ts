import { pino, type Logger as PinoLogger } from 'pino';
import { REDACTED } from './redact.js';

export type Logger = PinoLogger;

/**
 * Keys whose values are never logged, wherever they sit in a log object. Secret material travels as
 * `Material`, which redacts itself; this list catches the raw strings that a careless line might add.
 */
export const REDACTED_KEYS = [
  'password',
  'secret',
  'secretAccessKey',
  'secretText',
  'clientSecret',
  'token',
  'privateKey',
  'private_key',
  'authorization',
  'value',
];

const redactPaths = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

/** The structured logger. Level from ROTOR_LOG_LEVEL (default info); JSON lines to stdout or `destination`. */
export function createLogger(options: { name?: string; level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const level = options.level ?? process.env.ROTOR_LOG_LEVEL ?? 'info';
  return pino(
    {
      name: options.name ?? 'rotor',
      level,
      redact: { paths: redactPaths, censor: REDACTED },
    },
    options.destination,
  );
}
