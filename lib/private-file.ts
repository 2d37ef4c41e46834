import { open } from 'node:fs/promises';

/**
 * Writes a file only its owner may read or write (0600), whatever mode it had before: the mode
 * given to writeFile applies only when the file is created, so a file loosened once would stay
 * loose. The mode is set before the new content is written (the old content is truncated first).
 */
export async function writePrivateFile(path: string, content: string): Promise<void> {
  const file = await open(path, 'w', 0o600);
  try {
    await file.chmod(0o600);
    await file.writeFile(content);
  } finally {
    await file.close();
  }
}
