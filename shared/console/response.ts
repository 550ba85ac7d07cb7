/**
 * The console's requests and answers, as plain values (functions/console.ts turns them into
 * the Functions types), with the headers every answer carries: a strict Content Security Policy
 * (scripts and styles from this app only, no inline script, no framing, forms posting only to
 * this app and the identity platform), no caching of pages, no MIME sniffing, no referrer to
 * other sites.
 */
import type { Readable } from 'node:stream';
import type { SetCookie } from '../access';
import type { SafeHtml } from './html';

export interface ConsoleRequest {
  method: string;
  /** The request's full URL (its origin is what the browser shows). */
  url: string;
  /** The path below /api/console: '' (the Overview), '/connections', '/jobs/<id>'... */
  path: string;
  query: URLSearchParams;
  headers: { get(name: string): string | null };
  /** The url-encoded form of a POST (at most 64 KiB). */
  form(): Promise<URLSearchParams>;
}

export interface ConsoleResponse {
  status: number;
  headers: Record<string, string>;
  cookies: SetCookie[];
  body?: string | Readable;
}

export function securityHeaders(authorityHost: string): Record<string, string> {
  return {
    'content-security-policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      // A form's redirect is checked too: the Authorize button's answer goes to the identity platform.
      `form-action 'self' ${authorityHost}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'same-origin',
    'cross-origin-opener-policy': 'same-origin',
  };
}

export const NO_STORE = { 'cache-control': 'no-store' };

export function htmlResponse(status: number, page: SafeHtml, cookies: SetCookie[] = []): ConsoleResponse {
  return { status, headers: { 'content-type': 'text/html; charset=utf-8', ...NO_STORE }, cookies, body: page.value };
}

/** 303 See Other: after a form, the browser GETs the page (a reload does not post again). */
export function redirect(location: string, cookies: SetCookie[] = []): ConsoleResponse {
  return { status: 303, headers: { location, ...NO_STORE }, cookies };
}
