// The loopback ports live with the dev stack (dev/ports.ts); tests use the same ones.
export { freePort, LOOPBACK } from '../../dev/ports.js';
