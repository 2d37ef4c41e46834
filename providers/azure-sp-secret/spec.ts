import { z } from 'zod';
import { parseDuration } from '../../config/duration.js';
import { AzureConnectionFields, GuidSchema } from '../azure-shared.js';

const DAY_MS = 86_400_000;

export const AzureSpSecretSpecSchema = z
  .strictObject({
    ...AzureConnectionFields,
    /** The app registration's Object ID (Graph's `id`), which Graph addresses it by. */
    applicationObjectId: GuidSchema("the application's Object ID"),
    /** The app registration's Application (client) ID (`appId`), which a client signs in as. */
    clientId: GuidSchema("the application's client id (appId)"),
    /**
     * How long each new client secret is valid (its endDateTime). Keep it well above the rotation
     * cadence plus the grace period: a secret that expires before the next rotation breaks its consumers.
     */
    secretLifetime: z
      .string()
      .refine((text) => (parseDuration(text) ?? 0) >= DAY_MS, { message: 'must be a duration of at least 1d, like 180d' })
      .default('180d'),
    /** Microsoft Graph: another cloud's (https://graph.microsoft.us), a private endpoint or an emulator. */
    graphEndpoint: z.url({ protocol: /^https$/, message: 'must be an https URL' }).default('https://graph.microsoft.com'),
  })
  .refine((spec) => spec.applicationObjectId.toLowerCase() !== spec.clientId.toLowerCase(), {
    message: "applicationObjectId and clientId are the same GUID: applicationObjectId must be the application's Object ID, not its client id",
    path: ['applicationObjectId'],
  });

export type AzureSpSecretSpec = z.infer<typeof AzureSpSecretSpecSchema>;
