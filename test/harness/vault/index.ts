// The Vault emulator is part of the dev stack (dev/vault): `rotor dev` runs it, tests start it through here.
export * from '../../../dev/vault/index.js';
