/**
 * Preloaded (`node --require dist/bench/requestCounter.js`) into the processes the mailbox bench
 * measures (ScanRelay's local host, the direct baseline): counts their outgoing HTTP requests by
 * service and operation, and answers `{ type: 'requestCounts' }` on the IPC channel with
 * `{ type: 'requestCounts', counts: { '<service> <METHOD> <operation>': n } }` (the counts so far).
 *
 * node:http requests (the Azure SDK's) are seen by wrapping http.request; fetch (undici: Graph,
 * the token endpoint) through its `undici:request:create` diagnostics channel. Services are told
 * apart by port: BENCH_COUNT_PORTS is a JSON object of port → name (blob, queue, table, graph,
 * identity). A Map update per request: nothing the figures could notice.
 */
import { subscribe } from 'node:diagnostics_channel';
import http from 'node:http';

const ports = JSON.parse(process.env.BENCH_COUNT_PORTS || '{}') as Record<string, string>;
const counts = new Map<string, number>();

/** `GET scanjobs(…)`, `POST mailbox-work/messages`, `PUT scans/{blob}?comp=block`, `GET /users/{mailbox}/messages/{id}/attachments`. */
function operation(service: string, path: string): string {
  const [pathname = '', query = ''] = path.split('?');
  if (service === 'graph') {
    return pathname
      .replace(/^\/v1\.0/, '')
      .replace(/\/users\/[^/]+/, '/users/{mailbox}')
      .replace(/\/(messages|attachments|mailFolders|childFolders)\/[^/]+/g, '/$1/{id}');
  }
  const rest = pathname.replace(/^\/devstoreaccount1\/?/, '');
  if (service === 'table') return rest.replace(/\(.*\)$/, '(…)');
  if (service === 'queue') return rest.replace(/\/messages\/[^/]+$/, '/messages/{id}');
  if (service === 'blob') {
    const comp = new URLSearchParams(query).get('comp');
    return rest.replace(/^([^/]+)\/.+$/, '$1/{blob}') + (comp ? `?comp=${comp}` : '');
  }
  return pathname;
}

function count(port: string | number | undefined, method: string | undefined, path: string | undefined): void {
  const service = ports[String(port ?? '')] ?? 'other';
  const key = `${service} ${(method ?? 'GET').toUpperCase()} ${operation(service, path ?? '/')}`;
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

const original = http.request;
http.request = function request(this: unknown, ...args: unknown[]) {
  try {
    const [first, second] = args;
    const url = typeof first === 'string' || first instanceof URL ? new URL(first) : undefined;
    const options = (url ? (typeof second === 'object' && second ? second : {}) : (first ?? {})) as http.RequestOptions;
    count(options.port ?? url?.port, options.method, options.path ?? (url ? url.pathname + url.search : undefined));
  } catch {
    // counting never breaks a request
  }
  return (original as (...a: unknown[]) => http.ClientRequest).apply(this, args);
};

subscribe('undici:request:create', (message) => {
  const { request } = message as { request: { origin: string; method: string; path: string } };
  count(new URL(request.origin).port, request.method, request.path);
});

process.on('message', (m: { type?: string }) => {
  if (m?.type === 'requestCounts') process.send?.({ type: 'requestCounts', counts: Object.fromEntries(counts) });
});
