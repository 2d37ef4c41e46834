/**
 * The Helm chart's memory limit (deploy/helm/rotor/values.yaml resources.limits.memory), which the
 * compose file repeats and the `workers` benchmark runs each worker process under.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';

/** Bytes of a memory quantity: Kubernetes' `512Mi`/`1Gi` or compose's `512m`/`1g` (powers of 1024 both); NaN otherwise. */
export function memoryBytes(text: string | undefined): number {
  const m = /^(\d+)(Ki|Mi|Gi|k|m|g)$/.exec(text ?? '');
  return m ? Number(m[1]) * 1024 ** ('kmg'.indexOf(m[2]![0]!.toLowerCase()) + 1) : NaN;
}

/** resources.limits.memory of the chart's values, in bytes and as written there. */
export function chartMemoryLimit(): { bytes: number; text: string } {
  const values = parseYaml(readFileSync(new URL('../../deploy/helm/rotor/values.yaml', import.meta.url), 'utf8')) as { resources?: { limits?: { memory?: string } } };
  const text = values.resources?.limits?.memory ?? '';
  const bytes = memoryBytes(text);
  if (Number.isNaN(bytes)) throw new Error(`the chart's resources.limits.memory is ${JSON.stringify(text)}, not <n>Ki|Mi|Gi`);
  return { bytes, text };
}
