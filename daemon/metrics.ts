import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RotationMetrics } from '../activities/index.js';
import type { RotorStore } from '../store/index.js';

/**
 * Prometheus metrics. Labels carry credential ids, types and outcomes: never a secret value.
 * Rotation counters are updated by the activities of this process; inventory gauges are read from
 * the store at scrape time, so every daemon reports the same numbers.
 */
export class RotorMetrics implements RotationMetrics {
  readonly registry = new Registry();
  readonly rotations = new Counter({
    name: 'rotor_rotations_total',
    help: 'Rotations finished, by credential type and outcome',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'rotor_rotation_duration_seconds',
    help: 'Wall time of finished rotations, grace period included',
    labelNames: ['type', 'outcome'] as const,
    buckets: [1, 10, 60, 600, 3600, 6 * 3600, 24 * 3600, 7 * 24 * 3600],
    registers: [this.registry],
  });

  constructor(store?: RotorStore) {
    if (!store) return;
    new Gauge({
      name: 'rotor_credentials_overdue',
      help: 'Managed credentials past their next due date',
      registers: [this.registry],
      async collect() {
        this.set(await store.overdueCount());
      },
    });
    new Gauge({
      name: 'rotor_last_success_timestamp_seconds',
      help: 'When each credential was last rotated successfully',
      labelNames: ['credential'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await store.lastRotations();
        this.reset();
        for (const r of rows) this.set({ credential: r.id }, r.at.getTime() / 1000);
      },
    });
  }

  recordRotation(type: string, outcome: string, seconds: number): void {
    this.rotations.inc({ type, outcome });
    this.duration.observe({ type, outcome }, seconds);
  }
}
