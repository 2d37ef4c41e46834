import { createServer } from 'node:net';

/** The loopback address every harness server binds to; tests never touch another address. */
export const LOOPBACK = '127.0.0.1';

/** A free TCP port on loopback, for servers (like PostgreSQL) that cannot bind port 0 themselves. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('no port'));
      server.close(() => resolve(address.port));
    });
  });
}
