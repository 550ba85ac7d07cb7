/**
 * A host killed (SIGKILL) while it takes a message in: ScanRelay's local host runs in a child
 * process (test/helpers/childHost.ts), reads the mailbox with its backstop timer, stores the job,
 * and dies while its move of the message is in flight. The next host makes no second job: it finds
 * the message's key stored, and only moves the message.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAzurite, type RunningAzurite } from '../../host/local/azurite';
import { loadConfig } from '../../shared/config';
import { createSource, mailboxKey } from '../../shared/mailbox';
import { createStorage, SCAN_JOBS_TABLE, type Storage } from '../../shared/storage';
import { startChildHost, type ChildHost } from '../helpers/childHost';
import { startGraphServer, type GraphServer } from '../helpers/graphServer';
import { pdfBytes } from '../helpers/multipart';
import { waitFor } from '../helpers/wait';
import { DEFAULT_USER, startOidcServer, type OidcServer } from '../helpers/oidcServer';

jest.setTimeout(120_000);

const MAILBOX = 'scans@contoso.example';
const NEVER = '0 0 0 1 1 *';

let azurite: RunningAzurite;
let idp: OidcServer;
let graph: GraphServer;
let storage: Storage;
let env: Record<string, string>;
const hosts: ChildHost[] = [];

beforeAll(async () => {
  azurite = await startAzurite();
  idp = await startOidcServer();
  const client = idp.clients[0]!;
  graph = await startGraphServer();
  graph.acceptToken((t) => {
    try {
      idp.verifyJwt(t);
      return { app: true };
    } catch {
      return false;
    }
  });
  const dir = mkdtempSync(join(tmpdir(), 'scanrelay-mailcrash-'));
  writeFileSync(join(dir, 'secrets.json'), JSON.stringify({ 'oauth-client-secret': client.clientSecret }));
  writeFileSync(join(dir, 'destinations.json'), JSON.stringify({ version: 1, destinations: [] }));
  env = {
    AzureWebJobsStorage: azurite.connectionString,
    SECRETS_LOCAL_FILE: join(dir, 'secrets.json'),
    DESTINATIONS_FILE: join(dir, 'destinations.json'),
    OAUTH_AUTHORITY_HOST: idp.baseUrl,
    OAUTH_TENANT: DEFAULT_USER.tid,
    OAUTH_CLIENT_ID: client.clientId,
    GRAPH_BASE_URL: graph.baseUrl,
    // The backstop reads every second; nothing else runs on its own.
    MAILBOX_READ_SCHEDULE: '* * * * * *',
    MAILBOX_SUBSCRIPTION_SCHEDULE: NEVER,
    TOKEN_REFRESH_SCHEDULE: NEVER,
    DIRECTORY_SYNC_SCHEDULE: NEVER,
    INGEST_LEASE_SECONDS: '3',
    INGEST_SWEEP_SCHEDULE: '* * * * * *',
    LOCAL_QUEUE_VISIBILITY_SECONDS: '4',
  };
  storage = createStorage(loadConfig({ AzureWebJobsStorage: azurite.connectionString }).storage);
  const { mailboxSources: sources, mailboxState: state, mailboxMessages: messages, auditLog } = storage;
  await createSource(
    { sources, state, messages, auditLog },
    { kind: 'system', name: 'test' },
    {
      id: 'scans',
      mailbox: MAILBOX,
      access: 'application',
      workflowName: 'Mail scans',
      allowedSenders: ['contoso.example'],
    },
  );
});

afterAll(async () => {
  for (const h of hosts) await h.kill();
  await graph?.stop();
  await idp?.stop();
  await azurite?.stop();
});

async function storedJobs(key: string): Promise<string[]> {
  const table = storage.clients.table(SCAN_JOBS_TABLE);
  await table.createTable();
  const ids: string[] = [];
  for await (const e of table.listEntities<{ scanJobId?: string; status: string }>()) {
    if (e.scanJobId === key && e.status === 'stored') ids.push(e.partitionKey!);
  }
  return ids;
}

const processed = () =>
  graph.mail.folders(MAILBOX).includes('ScanRelay/Processed') ? graph.mail.messages(MAILBOX, 'ScanRelay/Processed') : [];

it('killed after storing the job, before the message moved: the next host moves it and makes no second job', async () => {
  const attachment = pdfBytes(500_000);
  const sent = graph.mail.deliver(
    MAILBOX,
    {
      from: { address: 'mfp-3@contoso.example' },
      subject: 'Crash',
      attachments: [{ kind: 'file', name: 'scan.pdf', contentType: 'application/pdf', content: attachment }],
    },
    'inbox',
    { notify: false },
  );
  const key = mailboxKey(MAILBOX, sent.internetMessageId);
  const moving = graph.holdNext('POST', /\/messages\/[^/]+\/move$/);

  const first = await startChildHost(env);
  hosts.push(first);
  await moving; // the job is stored and the move is in flight
  await first.kill();
  const [jobId] = await storedJobs(key);
  expect(jobId).toBeDefined();
  expect(graph.mail.messages(MAILBOX, 'Inbox')).toHaveLength(1);

  const second = await startChildHost(env);
  hosts.push(second);
  await waitFor('the message moved by the second host', () => processed().length === 1);
  expect(graph.mail.messages(MAILBOX, 'Inbox')).toEqual([]);
  expect(await storedJobs(key)).toEqual([jobId]);
  const job = await storage.scanJobs.get(jobId!);
  expect(job?.files.map((f) => f.size)).toEqual([attachment.length]);
  expect(await storage.scanJobs.getClaim(key)).toMatchObject({ jobId, status: 'stored' });
  const [record] = await storage.mailboxMessages.latest('scans', 5);
  expect(record).toMatchObject({ outcome: 'duplicate', jobId });
});
