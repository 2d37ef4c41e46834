import type { z } from 'zod';

/** What the policy loader needs to know of the providers: their spec schemas and a few facts. */
export interface ProviderCatalog {
  credential(type: string): { spec: z.ZodType; strategies: ReadonlyArray<'dual' | 'single'>; defaultEvery: string } | undefined;
  store(type: string): { spec: z.ZodType; primary: boolean } | undefined;
  credentialTypes(): string[];
  storeTypes(): string[];
}
