/**
 * The one place secret values are cut out of text (error messages, reasons) before it goes to a
 * log, an audit row, Temporal history or a user. Providers pass the raw secrets a call handled;
 * activities pass the materials they read (`materialSecrets`).
 */
/** What every secret value is replaced with, here and in Material's own serialisation. */
export const REDACTED = '[redacted]';

/**
 * `text` with every occurrence of every secret replaced by REDACTED: also the forms a value takes
 * inside a JSON string or a URL, and longest first, so a secret that contains another is not left
 * half visible. Empty secrets are ignored.
 */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret) continue;
    forms.add(secret);
    forms.add(JSON.stringify(secret).slice(1, -1));
    forms.add(encodeURIComponent(secret));
  }
  let out = text;
  for (const form of [...forms].sort((a, b) => b.length - a.length)) {
    if (form) out = out.split(form).join(REDACTED);
  }
  return out;
}

/** The message of a thrown value, redacted. */
export function redactedMessage(error: unknown, secrets: Iterable<string>): string {
  return redactSecrets(error instanceof Error ? error.message : String(error), secrets);
}

/**
 * The secret values of materials: every field but the public id (a role name, a key id is worth
 * keeping in a message) and values shorter than 4 characters (too short to be a secret, and
 * replacing them would garble the message).
 */
export function materialSecrets(materials: Iterable<{ readonly id: string; revealAll(): Record<string, string> }>): string[] {
  const out: string[] = [];
  for (const m of materials) {
    for (const value of Object.values(m.revealAll())) if (value.length >= 4 && value !== m.id) out.push(value);
  }
  return out;
}
