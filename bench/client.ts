/** The load generator's HTTP side: multipart POSTs to ScanRelay with node:http. */
import { Agent, request } from 'node:http';
import { multipartBody } from './payload';
import type { Scenario } from './protocol';

export interface ScanAnswer {
  status: number;
  json: unknown;
  text: string;
}

/** POSTs one generated scan job (Content-Length set, body streamed) and reads the answer. */
export function postScan(
  url: string,
  fileSizes: readonly number[],
  agent: Agent,
  fields: Readonly<Record<string, string>> = {},
): Promise<ScanAnswer> {
  const body = multipartBody(fileSizes, fields);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': body.contentType, 'content-length': body.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.on('error', reject);
    const source = body.stream();
    source.on('error', (err) => req.destroy(err));
    source.pipe(req);
  });
}

/**
 * Sends the scenario's requests to an HTTP side (ScanRelay or the reference relay), `inFlight`
 * at a time over keep-alive connections, checking each answer with `check`. Resolves with the
 * elapsed wall time in ms.
 */
export async function sendScans(
  url: string,
  scenario: Scenario,
  check: (answer: ScanAnswer) => void,
  fields: Readonly<Record<string, string>> = {},
): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: scenario.inFlight });
  const sizes = Array.from({ length: scenario.filesPerRequest }, () => scenario.fileBytes);
  let next = 0;
  const started = process.hrtime.bigint();
  try {
    const worker = async () => {
      while (next < scenario.requests) {
        next++;
        check(await postScan(url, sizes, agent, fields));
      }
    };
    await Promise.all(Array.from({ length: Math.min(scenario.inFlight, scenario.requests) }, worker));
    return Number(process.hrtime.bigint() - started) / 1e6;
  } finally {
    agent.destroy();
  }
}
