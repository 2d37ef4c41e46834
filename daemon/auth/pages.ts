/** The few HTML answers of the auth routes (login errors, logout, refusals); the console's pages have their own layout. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { escapeHtml } from '../../lib/html.js';

export { escapeHtml };

export function wantsHtml(request: FastifyRequest): boolean {
  return /text\/html/.test(request.headers.accept ?? '');
}

/** Answers a refusal as JSON `{ error, why }`, or a short HTML page for a browser. */
export function refuse(request: FastifyRequest, reply: FastifyReply, status: number, why: string): FastifyReply {
  const error = status === 401 ? 'unauthorized' : status === 403 ? 'forbidden' : status === 404 ? 'not found' : 'refused';
  if (wantsHtml(request)) {
    return reply.code(status).type('text/html; charset=utf-8').send(page(error, `<p>${escapeHtml(why)}</p><p><a href="/ui">Back to the console</a></p>`));
  }
  return reply.code(status).send({ error, why });
}

/** A minimal page for the login, logout and refusals (the console's own pages have their layout). */
export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${escapeHtml(title)} · Rotor</title></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}
