/**
 * What the SCIM service reads from a request besides the path: the JSON body, the
 * attributes/excludedAttributes and paging parameters, and client text cut short for error details.
 */
import { badRequest, ScimError } from '../errors';
import { parseAttributeList } from '../resource';
import type { ScimRequest } from '../types';

export function parseBody(req: ScimRequest): unknown {
  if (req.body === undefined || req.body.trim() === '')
    throw badRequest('invalidSyntax', 'The request has no body; send a SCIM JSON object.');
  const type = req.headers.contentType?.split(';')[0]?.trim().toLowerCase();
  if (type && type !== 'application/scim+json' && type !== 'application/json') {
    throw new ScimError(415, undefined, `The body must be application/scim+json (got ${truncate(type)}).`);
  }
  try {
    return JSON.parse(req.body) as unknown;
  } catch {
    throw badRequest('invalidSyntax', 'The body is not valid JSON.');
  }
}

export function viewOptions(req: ScimRequest) {
  return {
    attributes: parseAttributeList(req.query.get('attributes'), 'attributes'),
    excludedAttributes: parseAttributeList(req.query.get('excludedAttributes'), 'excludedAttributes'),
  };
}

export function wants(view: { attributes?: string[]; excludedAttributes?: string[] }, name: string): boolean {
  const n = name.toLowerCase();
  const mentions = (list?: string[]) =>
    list?.some((a) => a.toLowerCase() === n || a.toLowerCase().endsWith(`:${n}`) || a.toLowerCase().startsWith(`${n}.`));
  if (view.attributes?.length) return !!mentions(view.attributes);
  return !mentions(view.excludedAttributes);
}

export function positiveInt(raw: string | null, name: string, fallback: number, min = 1): number {
  if (raw === null || raw.trim() === '') return fallback;
  if (!/^\d{1,9}$/.test(raw.trim())) throw badRequest('invalidValue', `${name} must be a whole number (got "${truncate(raw)}").`);
  return Math.max(Number(raw), min);
}

export function truncate(v: string, max = 80): string {
  const clean = v.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
