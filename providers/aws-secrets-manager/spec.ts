import { z } from 'zod';
import { AwsConnectionFields } from '../aws-shared.js';

export const AwsSecretsManagerSpecSchema = z.strictObject({
  /** The secret's name or full ARN. It must exist: Rotor adds versions, it does not create secrets. */
  secretId: z.string().min(1).max(2048),
  ...AwsConnectionFields,
  /** `json`: SecretString is a JSON object of the material's fields (e.g. {"accessKeyId": …, "secretAccessKey": …}). */
  format: z.literal('json').default('json'),
});

export type AwsSecretsManagerSpec = z.infer<typeof AwsSecretsManagerSpecSchema>;
