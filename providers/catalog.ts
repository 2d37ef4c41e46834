/**
 * What the policy loader knows of the providers (spec schemas and declared facts), without their
 * code: the registry hands it to config/, which never imports a provider.
 */
import type { z } from 'zod';
import type { Holds, IdOnRead, MaterialShape, Strategy } from './contracts.js';

export interface CatalogCredential {
  spec: z.ZodType;
  strategies: readonly Strategy[];
  defaultEvery: string;
  produces: MaterialShape;
}

export interface CatalogStore {
  spec: z.ZodType;
  /** It can be a primary store. */
  primary: boolean;
  holds: Holds;
  /** Only for a primary store: how it gets a material's id back. */
  idOnRead?: IdOnRead;
}

export interface ProviderCatalog {
  credential(type: string): CatalogCredential | undefined;
  store(type: string): CatalogStore | undefined;
  credentialTypes(): string[];
  storeTypes(): string[];
}
