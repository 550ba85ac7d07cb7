/**
 * Bench child: the baseline of the mailbox ingest bench (bench/mailbox.ts), what a minimal
 * hand-written relay does with a mailbox folder. It lists the folder, then for each message, 4 at
 * a time (Outlook's limit per mailbox, as ScanRelay): lists its attachments, streams the first
 * one's `$value` into Blob Storage with `BlockBlobClient.uploadStream` (the buffer size and
 * concurrency ScanRelay passes), and moves the message to the processed folder. An app-only token
 * from one client-credentials request, kept for the process; folder ids looked up once. No job
 * records, queue, claims, sender checks or hashing. A 429 is waited out (Retry-After) and counted.
 *
 * IPC: { type: 'run', setup } → { type: 'run', moved, throttled, ms } (or { type: 'error', message });
 * { type: 'stop' }. Each run takes the folder as it is then (the bench runs a warm-up first).
 */
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { ContainerClient } from '@azure/storage-blob';
import { UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY } from './protocol';

export interface DirectSetup {
  graphBaseUrl: string;
  /** The tenant's token endpoint (…/oauth2/v2.0/token). */
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  upn: string;
  connectionString: string;
  container: string;
  /** Two levels below the mailbox's root, e.g. ScanRelay/Processed. */
  processedFolder: string;
}

const IN_FLIGHT = 4;

let token: string | undefined;
let processedId: string | undefined;
let throttled = 0;

async function getToken(s: DirectSetup): Promise<string> {
  const res = await fetch(s.tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: s.clientId,
      client_secret: s.clientSecret,
      scope: `${new URL(s.graphBaseUrl).origin}/.default`,
    }),
  });
  if (!res.ok) throw new Error(`the token endpoint answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** A Graph request; a 429 is waited out and sent again. */
async function graph(s: DirectSetup, path: string, init: { method?: string; json?: unknown } = {}): Promise<Response> {
  const url = path.startsWith('http') ? path : `${s.graphBaseUrl}/users/${encodeURIComponent(s.upn)}${path}`;
  for (;;) {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      headers: { authorization: `Bearer ${token}`, ...(init.json === undefined ? {} : { 'content-type': 'application/json' }) },
      body: init.json === undefined ? undefined : JSON.stringify(init.json),
    });
    if (res.status === 429) {
      throttled++;
      await res.body?.cancel();
      await sleep(Number(res.headers.get('retry-after') || 1) * 1000);
      continue;
    }
    if (!res.ok) throw new Error(`Graph answered ${res.status} to ${init.method ?? 'GET'} ${path}: ${(await res.text()).slice(0, 300)}`);
    return res;
  }
}

const json = async <T>(res: Promise<Response>) => (await (await res).json()) as T;

/** A child folder's id by its display name, created when missing. */
async function childFolder(s: DirectSetup, parent: string | undefined, name: string): Promise<string> {
  const list = parent ? `/mailFolders/${encodeURIComponent(parent)}/childFolders` : '/mailFolders';
  const found = await json<{ value: Array<{ id: string }> }>(
    graph(s, `${list}?$filter=${encodeURIComponent(`displayName eq '${name.replace(/'/g, "''")}'`)}&$select=id`),
  );
  return found.value[0]?.id ?? (await json<{ id: string }>(graph(s, list, { method: 'POST', json: { displayName: name } }))).id;
}

async function run(s: DirectSetup): Promise<{ moved: number; throttled: number; ms: number }> {
  const started = process.hrtime.bigint();
  throttled = 0;
  token ??= await getToken(s);
  if (!processedId) {
    let parent: string | undefined;
    for (const name of s.processedFolder.split('/')) parent = await childFolder(s, parent, name);
    processedId = parent;
  }
  const container = new ContainerClient(s.connectionString, s.container);
  await container.createIfNotExists();

  const ids: string[] = [];
  let next: string | undefined = '/mailFolders/inbox/messages?$select=id&$top=100';
  while (next) {
    const page: { value: Array<{ id: string }>; '@odata.nextLink'?: string } = await json(graph(s, next));
    ids.push(...page.value.map((m) => m.id));
    next = page['@odata.nextLink'];
  }

  let i = 0;
  const worker = async () => {
    while (i < ids.length) {
      const id = ids[i++]!;
      const m = `/messages/${encodeURIComponent(id)}`;
      const { value } = await json<{ value: Array<{ id: string; name: string; contentType: string }> }>(
        graph(s, `${m}/attachments?$select=id,name,contentType`),
      );
      const a = value[0];
      if (!a) throw new Error(`message ${id} has no attachment`);
      const res = await graph(s, `${m}/attachments/${encodeURIComponent(a.id)}/$value`);
      const body = Readable.fromWeb(res.body as WebReadableStream<Uint8Array>);
      await container.getBlockBlobClient(a.name).uploadStream(body, UPLOAD_BUFFER_BYTES, UPLOAD_CONCURRENCY, {
        blobHTTPHeaders: { blobContentType: a.contentType },
      });
      await (await graph(s, `${m}/move`, { method: 'POST', json: { destinationId: processedId } })).body?.cancel();
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { moved: ids.length, throttled, ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

process.on('message', (m: { type: string; setup?: DirectSetup }) => {
  if (m.type === 'stop') process.exit(0);
  if (m.type !== 'run') return; // bench/requestCounter.ts answers its own
  run(m.setup!).then(
    (r) => process.send!({ type: 'run', ...r }),
    (err: unknown) => process.send!({ type: 'error', message: (err as Error)?.stack ?? String(err) }),
  );
});
