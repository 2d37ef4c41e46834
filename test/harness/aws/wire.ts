/**
 * The two AWS wire protocols the emulator speaks:
 * - awsQuery (IAM, STS): form-encoded POST, XML replies `<XResponse><XResult>…`, errors in
 *   `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/></ErrorResponse>`.
 * - awsJson1_1 (Secrets Manager): JSON bodies, `X-Amz-Target: secretsmanager.X`, errors
 *   `{"__type": "Code", "Message": "…"}` (auth errors use a lowercase `message`, as AWS does).
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';

export type Service = 'iam' | 'sts' | 'secretsmanager';

export const XML_NAMESPACES: Record<'iam' | 'sts', string> = {
  iam: 'https://iam.amazonaws.com/doc/2010-05-08/',
  sts: 'https://sts.amazonaws.com/doc/2011-06-15/',
};

/** An AWS error: code, HTTP status and message, rendered in the calling service's protocol. */
export class AwsError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** awsQuery's <Type>: Sender for the caller's fault, Receiver for the service's. */
    readonly type: 'Sender' | 'Receiver' = status >= 500 ? 'Receiver' : 'Sender',
  ) {
    super(message);
  }
}

/** XML element values: objects nest, arrays become `<member>` lists, undefined is left out. */
export type XmlValue = string | number | boolean | Date | undefined | XmlValue[] | { [name: string]: XmlValue };

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function renderXml(value: XmlValue): string {
  if (value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map((item) => `<member>${renderXml(item)}</member>`).join('');
  if (typeof value === 'object') {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([name, v]) => `<${name}>${renderXml(v)}</${name}>`)
      .join('');
  }
  return escapeXml(String(value));
}

/** `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…` (no Result element when result is undefined). */
export function queryResponse(service: 'iam' | 'sts', action: string, result: XmlValue): string {
  const body = result === undefined ? '' : `<${action}Result>${renderXml(result)}</${action}Result>`;
  return (
    `<${action}Response xmlns="${XML_NAMESPACES[service]}">${body}` +
    `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`
  );
}

export function queryError(service: 'iam' | 'sts', error: AwsError): string {
  return (
    `<ErrorResponse xmlns="${XML_NAMESPACES[service]}"><Error><Type>${error.type}</Type>` +
    `<Code>${escapeXml(error.code)}</Code><Message>${escapeXml(error.message)}</Message></Error>` +
    `<RequestId>${randomUUID()}</RequestId></ErrorResponse>`
  );
}

/** Errors AWS's front end (not Secrets Manager itself) writes with a lowercase `message`. */
const FRONT_END_ERRORS = new Set(['UnrecognizedClientException', 'InvalidSignatureException', 'MissingAuthenticationTokenException', 'AccessDeniedException']);

export function jsonError(error: AwsError): Record<string, string> {
  return FRONT_END_ERRORS.has(error.code) ? { __type: error.code, message: error.message } : { __type: error.code, Message: error.message };
}

export function sendXml(res: ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() }).end(xml);
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() }).end(JSON.stringify(body));
}

/** A fault body in the right protocol, for FaultInjector rules: e.g. `{ status: 429, ...awsFault('iam', 'Throttling', 'Rate exceeded') }`. */
export function awsFault(service: Service, code: string, message: string): { body: string; headers: Record<string, string> } {
  const error = new AwsError(code, 400, message);
  if (service === 'secretsmanager') {
    return { body: JSON.stringify(jsonError(error)), headers: { 'content-type': 'application/x-amz-json-1.1' } };
  }
  return { body: queryError(service, error), headers: { 'content-type': 'text/xml' } };
}

/** Epoch seconds, the awsJson timestamp format. */
export const epochSeconds = (date: Date): number => date.getTime() / 1000;
