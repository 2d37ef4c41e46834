import { userInfo } from 'node:os';
import { cliActor, type Actor } from '../daemon/auth/actor.js';

/** The actor of a CLI command: the local OS user (`cli:<username>`), named `--by` when given. */
export function localActor(by?: string): Actor {
  let username = process.env.USER ?? 'unknown';
  try {
    username = userInfo().username;
  } catch {
    // No passwd entry (a container with an arbitrary uid): fall back to $USER.
  }
  return cliActor(username, by);
}
