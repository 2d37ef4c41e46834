import { z } from 'zod';
import { DurationSchema, parseDuration } from '../../config/duration.js';
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
    /**
     * Drain detection before revoke. `sign-in-logs`: read Entra ID's service-principal sign-in log
     * for sign-ins with the old secret (needs AuditLog.Read.All and an Entra ID P1/P2 licence; when
     * Graph refuses, the rotation stops and says so). `none`: no signal, revoke relies on the grace alone.
     */
    drainSignal: z.enum(['sign-in-logs', 'none']).default('sign-in-logs'),
    /**
     * The sign-in log is read back at least this far from each check, whatever window the rotation
     * asks about: a client signs in only when its cached token (60 to 90 minutes) runs out, and the
     * log lags a few minutes, so a shorter window would call a secret still in use drained.
     */
    drainLookback: DurationSchema.default('2h'),
  })
  .refine((spec) => spec.applicationObjectId.toLowerCase() !== spec.clientId.toLowerCase(), {
    message: "applicationObjectId and clientId are the same GUID: applicationObjectId must be the application's Object ID, not its client id",
    path: ['applicationObjectId'],
  });

export type AzureSpSecretSpec = z.infer<typeof AzureSpSecretSpecSchema>;
