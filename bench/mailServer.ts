/**
 * Bench child for the mailbox ingest bench (bench/mailbox.ts): the local Microsoft Graph server
 * with its Outlook mailboxes (test/helpers/graphServer.ts + graphMailboxes.ts, the per-mailbox
 * limit of 4 requests in flight answered with 429) and the test OIDC server (app-only tokens), in
 * their own process so that their CPU and memory are not counted as ScanRelay's or the baseline's.
 * The Graph server accepts only tokens the OIDC server signed, as in test/integration/mailboxIngest.test.ts.
 *
 * A message's attachment is one PDF of `bytes` bytes, distinct per message: a block shared by every
 * message (random, starting with `%PDF-1.7`) followed by a 64-byte tail naming the message. The
 * mailbox stores the two as chunks (graphMailboxes keeps a file's chunks as given and streams them
 * from `$value`), so 1,000 messages cost the server one block of memory, not 1,000 MiB; the
 * SHA-256 of each is the block's hash state copied and fed the tail.
 *
 * IPC, each request answered with a reply of the same `type`:
 *   sends { type: 'ready', graphBaseUrl, idpBaseUrl, clientId, clientSecret, tenant } once;
 *   { type: 'deliver', upn, from, count, bytes, tag } → { messages: [{ internetMessageId, sha256, size }] }
 *     (delivered without notifications);
 *   { type: 'count', upn, folder } → { count } (0 while the folder does not exist);
 *   { type: 'moved', upn } → { count } (the mailbox's moves answered 201 so far: cheap to poll);
 *   { type: 'stats', upn } → { maxConcurrent, throttled, requests } (429s and requests to that mailbox);
 *   { type: 'stop' }.
 */
import { createHash, randomBytes } from 'node:crypto';
import { startGraphServer, type RequestLogEntry } from '../test/helpers/graphServer';
import { DEFAULT_USER, startOidcServer } from '../test/helpers/oidcServer';

const TAIL_BYTES = 64;

type Request =
  | { type: 'deliver'; upn: string; from: string; count: number; bytes: number; tag: string }
  | { type: 'count'; upn: string; folder: string }
  | { type: 'moved'; upn: string }
  | { type: 'stats'; upn: string }
  | { type: 'stop' };

async function main(): Promise<void> {
  // Node 20 can deadlock when a garbage collection runs while startOidcServer exports its freshly
  // generated RSA key as a JWK (the KeyGenJob's destructor waits for a mutex the export holds; seen
  // here with gdb on v20.20.2). Collecting first leaves the young generation empty for those few
  // allocations. The bench forks this file with --expose-gc.
  (globalThis as { gc?: () => void }).gc?.();
  const idp = await startOidcServer();
  const client = idp.clients[0]!;
  // Connections kept open as Graph does (the test server's default makes fetch open one per request).
  const graph = await startGraphServer({ keepAliveTimeoutMs: 60_000 });
  graph.acceptToken((t) => {
    try {
      idp.verifyJwt(t);
      return { app: true };
    } catch {
      return false;
    }
  });

  /** The shared part of every file of this size, and its hash state. */
  const blocks = new Map<number, { block: Buffer; hash: ReturnType<typeof createHash> }>();
  const blockOf = (bytes: number) => {
    let b = blocks.get(bytes);
    if (!b) {
      const block = randomBytes(bytes - TAIL_BYTES);
      Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1').copy(block, 0);
      b = { block, hash: createHash('sha256').update(block) };
      blocks.set(bytes, b);
    }
    return b;
  };

  // Moves answered 201, by mailbox: counted from the request log as it grows, so that the bench can
  // poll every 50 ms for nearly nothing (listing a folder of 1,000 messages takes ~5 ms).
  const moves = new Map<string, RequestLogEntry[]>();
  let scanned = 0;
  const moved = (upn: string) => {
    for (; scanned < graph.requests.length; scanned++) {
      const r = graph.requests[scanned]!;
      const m = r.method === 'POST' ? /\/users\/([^/]+)\/messages\/[^/]+\/move$/.exec(r.url.split('?')[0]!) : null;
      if (!m) continue;
      const key = decodeURIComponent(m[1]!).toLowerCase();
      let list = moves.get(key);
      if (!list) moves.set(key, (list = []));
      list.push(r);
    }
    return (moves.get(upn.toLowerCase()) ?? []).filter((r) => r.status === 201).length;
  };

  const inFolder = (upn: string, folder: string) =>
    graph.mail.folders(upn).some((f) => f.toLowerCase() === folder.toLowerCase()) ? graph.mail.messages(upn, folder).length : 0;

  process.on('message', (m: Request) => {
    if (m.type === 'deliver') {
      const { block, hash } = blockOf(m.bytes);
      graph.mail.mailbox(m.upn);
      const messages = [];
      for (let i = 0; i < m.count; i++) {
        const internetMessageId = `<bench-${m.tag}-${i}@contoso.example>`;
        const tail = Buffer.alloc(TAIL_BYTES, ' ');
        tail.write(`\n% ${internetMessageId}\n%%EOF`, 'latin1');
        tail[TAIL_BYTES - 1] = 0x0a;
        graph.mail.deliver(
          m.upn,
          {
            from: { address: m.from, name: 'MFP bench' },
            subject: `Scan ${i + 1} of ${m.count}`,
            internetMessageId,
            attachments: [{ kind: 'file', name: `scan-${m.tag}-${i + 1}.pdf`, contentType: 'application/pdf', content: [block, tail] }],
          },
          'inbox',
          { notify: false },
        );
        messages.push({ internetMessageId, sha256: hash.copy().update(tail).digest('hex'), size: m.bytes });
      }
      process.send!({ type: 'deliver', messages });
    } else if (m.type === 'moved') {
      process.send!({ type: 'moved', count: moved(m.upn) });
    } else if (m.type === 'count') {
      process.send!({ type: 'count', count: inFolder(m.upn, m.folder) });
    } else if (m.type === 'stats') {
      const path = `/users/${m.upn.toLowerCase()}/`;
      const mine = graph.requests.filter((r) => {
        try {
          return decodeURIComponent(r.url).toLowerCase().includes(path);
        } catch {
          return false;
        }
      });
      process.send!({
        type: 'stats',
        maxConcurrent: graph.mail.maxConcurrent(m.upn),
        throttled: mine.filter((r) => r.status === 429).length,
        requests: mine.length,
      });
    } else if (m.type === 'stop') {
      void Promise.all([graph.stop(), idp.stop()]).then(() => process.exit(0));
    }
  });
  process.send!({
    type: 'ready',
    graphBaseUrl: graph.baseUrl,
    idpBaseUrl: idp.baseUrl,
    clientId: client.clientId,
    clientSecret: client.clientSecret,
    tenant: DEFAULT_USER.tid,
  });
}

void main();
