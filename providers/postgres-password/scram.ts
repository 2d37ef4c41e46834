import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);
const ITERATIONS = 4096;

/**
 * The SCRAM-SHA-256 secret PostgreSQL stores for a password (RFC 5802/7677, the format of
 * pg_authid.rolpassword). Sending this instead of the plain password in ALTER ROLE keeps the password
 * out of server logs and pg_stat_activity, as psql's \password does.
 *
 * Returns null for passwords PostgreSQL would SASLprep-normalise (anything but printable ASCII):
 * the caller then lets the server hash the password itself, so both sides agree on the bytes.
 */
export async function scramSecret(password: string): Promise<string | null> {
  if (!/^[\x21-\x7e]+$/.test(password)) return null;
  const salt = randomBytes(16);
  const salted = await pbkdf2Async(password, salt, ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
