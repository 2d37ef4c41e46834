/**
 * Connections providers keep open between activities (a pooled admin login per admin identity, a
 * keep-alive client per Vault address and token): each registers how to close itself here, and the
 * daemon's and the worker's shutdown close them all, after the workers have drained.
 */
const closers = new Set<() => Promise<void>>();

/** Registers `close` to run at shutdown; returns a function that unregisters it. */
export function onShutdownClose(close: () => Promise<void>): () => void {
  closers.add(close);
  return () => closers.delete(close);
}

/** Closes every provider connection kept open; safe to call more than once. */
export async function closeProviderConnections(): Promise<void> {
  const all = [...closers];
  closers.clear();
  await Promise.allSettled(all.map((close) => close()));
}
