// Fault injection lives with the emulators it serves (dev/faults.ts: the Vault emulator of `rotor dev` takes it too).
export * from '../../dev/faults.js';
