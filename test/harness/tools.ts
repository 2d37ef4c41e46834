/**
 * Where the set-up step (scripts/setup-tools.mjs, run by `npm test`) put the tools beyond npm.
 * A test that needs one and finds it missing fails with the command that installs it.
 * One home with `rotor dev`, which finds the Temporal CLI the same way: dev/tools.ts.
 */
export { toolPath, toolsDir } from '../../dev/tools.js';
