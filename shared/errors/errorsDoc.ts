/** docs/errors.md, generated from the catalog (`npm run docs`; test/unit/errors.test.ts keeps it current). */
import { ERRORS, type ErrorEntry, type ErrorKind } from './catalog';

const SECTIONS: Array<{ kind: ErrorKind; title: string; intro: string; status: boolean }> = [
  {
    kind: 'request',
    title: 'Answers',
    intro:
      'Every error answer of ScanRelay\'s HTTP endpoints is JSON, `{"error": "<code>", "message": "<what to do>"}`, with the status below. ' +
      'A retryable answer carries `Retry-After`. (SCIM answers use the SCIM error schema of RFC 7644 §3.12 instead: see provisioning.md.)',
    status: true,
  },
  {
    kind: 'delivery',
    title: 'Deliveries',
    intro:
      'Each destination of a job in `GET /api/scan/{jobId}` (`delivery.destinations[]`) has a `status` (`delivering`, `retrying`, `delivered`, `failed`) and, when it failed or is retried, a `code` from this list; `lastError` says the rest in words. A retryable code is retried through the queue; after the last attempt the destination fails and can be delivered again (`POST /api/scan/{jobId}/redeliver`).',
    status: false,
  },
  {
    kind: 'job',
    title: "A job's delivery state",
    intro: '`delivery.state` in `GET /api/scan/{jobId}`, with `delivery.reason` in words.',
    status: false,
  },
  {
    kind: 'connection',
    title: "A connection's state",
    intro: '`state` of a connection in `GET /api/connections` and `GET /api/connections/{id}`, with `lastError` in words.',
    status: false,
  },
  {
    kind: 'mailbox',
    title: 'Mailbox sources',
    intro:
      'Why a mailbox source rejected a message (`code` of a message in `GET /api/mailboxes/{id}`, with `reason` in words; the message is moved to the rejected folder), or why it cannot read its mailbox (`problem`).',
    status: false,
  },
];

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function renderErrorsDoc(): string {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from shared/errors/catalog.ts by `npm run docs`; a test fails when it is stale. Do not edit by hand. -->',
    '',
    'The codes below are stable: printers, their management servers and scripts may act on them. The messages that come with them are written for people and may change.',
    '',
  ];
  for (const section of SECTIONS) {
    const entries = Object.entries(ERRORS as Record<string, ErrorEntry>).filter(([, e]) => e.kinds.includes(section.kind));
    lines.push(`## ${section.title}`, '', section.intro, '');
    lines.push(section.status ? '| Code | Status | Meaning | What to do |' : '| Code | Retried | Meaning | What to do |');
    lines.push('|---|---|---|---|');
    for (const [code, e] of entries) {
      const second = section.status
        ? `${e.status}${e.retryable ? ' (retry)' : ''}`
        : section.kind === 'delivery'
          ? e.retryable
            ? 'yes'
            : 'no'
          : '';
      lines.push(`| \`${code}\` | ${second} | ${cell(e.meaning)} | ${cell(e.action)} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
