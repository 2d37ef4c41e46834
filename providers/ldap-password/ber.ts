/**
 * The request value of LDAP's Password Modify extended operation (RFC 3062), BER-encoded by hand:
 * ldapts sends an extended operation's value as given and has no encoder for this one.
 *
 *   PasswdModifyRequestValue ::= SEQUENCE {
 *     userIdentity [0] OCTET STRING OPTIONAL,
 *     oldPasswd    [1] OCTET STRING OPTIONAL,
 *     newPasswd    [2] OCTET STRING OPTIONAL }
 */
export const PASSWORD_MODIFY_OID = '1.3.6.1.4.1.4203.1.11.1';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tagged(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(value.length), value]);
}

/** Sets `dn`'s password to `newPassword` (an administrator's reset: no old password). */
export function passwordModifyRequest(dn: string, newPassword: string): Buffer {
  const body = Buffer.concat([tagged(0x80, Buffer.from(dn, 'utf8')), tagged(0x82, Buffer.from(newPassword, 'utf8'))]);
  return tagged(0x30, body);
}
