/**
 * What the decommissionCredential workflow (decommission.ts), its activities and the client
 * exchange: references and redacted text only. Deterministic: no imports.
 */

export const DECOMMISSION_WORKFLOW = 'decommissionCredential';

export function decommissionWorkflowId(credentialId: string): string {
  return `decommission/${credentialId}`;
}

export type MaterialWhich = 'current' | 'previous';

export interface DecommissionInput {
  credentialId: string;
  /** Who asked, for the audit log (e.g. `cli:alice`). */
  actor: string;
  reason?: string;
}

/** What every activity of one run gets: decommissionId makes its audit rows findable on a retry. */
export interface DecommissionRef {
  credentialId: string;
  actor: string;
  decommissionId: string;
}

export type DecommissionPlan =
  | { refused: string }
  | { materials: Array<{ which: MaterialWhich; materialId: string }>; problems: string[]; dependents: string[] };

export interface DecommissionReport {
  credential: string;
  /** Material ids made invalid, with how. */
  material: Array<{ id: string; which: MaterialWhich; how: 'revoked' | 'retired' }>;
  dependents: Array<{ name: string; removed: boolean }>;
  /** What could not be done and must be done by hand; empty when complete. */
  problems: string[];
}
