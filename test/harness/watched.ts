/**
 * Names a start-up step still pending after 20 s on stderr (vitest shows which file), so a hook
 * that times out in CI says where it hung.
 */
export async function watched<T>(step: string, work: Promise<T>): Promise<T> {
  const timer = setTimeout(() => process.stderr.write(`[harness] ${step} still pending after 20 s\n`), 20_000);
  try {
    return await work;
  } finally {
    clearTimeout(timer);
  }
}
