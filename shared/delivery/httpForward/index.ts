/**
 * HTTP forward: re-POSTs a job as multipart/form-data (every field, every file streamed, plus
 * configured extra properties) to another Extension endpoint or a Cloud Fax provider's API.
 * HTTPS only unless the destination allows HTTP; loopback, private and link-local targets are
 * refused unless allowed (checked on the resolved address, which is then the one connected to).
 *
 * TLS: the server certificate is verified against Node's trusted CAs (the public ones, plus
 * NODE_EXTRA_CA_CERTS), or only against the destination's own CA when `tls` names one: `ca` (PEM
 * text) or `caFile` (a PEM file, read and checked at start-up), or `caSecret` (the secret-store
 * name of PEM text, read at each delivery). Node's `ca` option replaces the default CAs
 * ("Mozilla's CAs are completely replaced when CAs are explicitly specified",
 * https://nodejs.org/api/tls.html#tlscreatesecurecontextoptions), which pins the destination to
 * that CA. A certificate that fails verification fails the destination at once, naming it (see
 * ../tls.ts); network errors stay transient. SNI carries the URL's host name, and nothing for an address URL: an address as TLS
 * server name is not permitted (RFC 6066 §3) and makes Node warn (DEP0123,
 * https://nodejs.org/api/deprecations.html#DEP0123).
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { optionPath, parseOptions } from '../options';
import { previewTemplate } from '../preview';
import { renderTemplate } from '../template';
import { certificateRefused, pemCertificates, serverName } from '../tls';
import { PermanentDeliveryError, TransientDeliveryError, type Connector, type DeliveryContext, type DeliveryJob } from '../types';
import { httpForwardOptionsSchema, type HttpForwardOptions } from './options';
import { pinnedLookup, resolveTarget } from './ssrf';

export { httpForwardOptionsSchema, type HttpForwardOptions, type HttpForwardTls } from './options';

/** The CA certificates for this delivery: the parsed ones, or the secret's, read now and checked. */
async function caFor(options: HttpForwardOptions, context: DeliveryContext): Promise<string | undefined> {
  const tls = options.tls;
  if (!tls) return undefined;
  if ('ca' in tls) return tls.ca;
  const text = await context.getSecret(tls.caSecret);
  try {
    return pemCertificates(text, `The secret '${tls.caSecret}' ("tls.caSecret")`);
  } catch (err) {
    throw new PermanentDeliveryError('certificate_refused', `HTTP forward to ${options.url.host}: ${(err as Error).message}`);
  }
}

export const httpForwardConnector: Connector<HttpForwardOptions> = {
  type: 'httpForward',
  optionsSchema: httpForwardOptionsSchema,
  parseOptions: (raw) => parseOptions(httpForwardOptionsSchema, raw),

  preview: (job, o) =>
    Object.entries(o.extraFields).flatMap(([k, v]) =>
      previewTemplate(optionPath('extraFields', [k]), v, () => renderTemplate(v, job.fields, 'header')),
    ),

  async deliver(job, options, context) {
    const extra = Object.entries(options.extraFields).map(([k, v]) => [k, renderTemplate(v, job.fields, 'header')] as const);
    let target;
    try {
      target = await resolveTarget(options.url.hostname, options.allowPrivateNetworks);
    } catch (err) {
      throw new PermanentDeliveryError('blocked_address', `HTTP forward to ${options.url.host}: ${(err as Error).message}`);
    }
    const boundary = `----scanrelay${randomBytes(12).toString('hex')}`;
    const headers: Record<string, string> = {
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'idempotency-key': `${job.jobId}`,
      'user-agent': 'ScanRelay',
    };
    const ca = await caFor(options, context);
    if (options.bearerTokenSecret) headers.authorization = `Bearer ${await context.getSecret(options.bearerTokenSecret)}`;
    const send = options.url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(options.url, {
      method: 'POST',
      headers,
      timeout: options.timeoutMs,
      // Connect to the address that was checked, whatever DNS says now.
      lookup: pinnedLookup(target),
      // The host name for SNI and the certificate check; none for an address (checked against the address).
      servername: serverName(options.url.hostname),
      ...(ca ? { ca } : {}),
    });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
      req.once('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs / 1000} s`)));
    });
    response.catch(() => undefined); // awaited below; a send failure is reported by the pipeline
    let res: IncomingMessage;
    try {
      await pipeline(Readable.from(multipartBody(job, extra, boundary)), req);
      res = await response;
    } catch (err) {
      // A certificate that fails verification is the configuration's to fix: permanent, naming it.
      const refused = await certificateRefused(err, {
        label: `HTTP forward to ${options.url.host}`,
        target: {
          host: options.url.hostname,
          port: Number(options.url.port) || 443,
          address: target.address,
          timeoutMs: options.timeoutMs,
        },
        caOptions: '"tls.ca", "tls.caFile" or "tls.caSecret"',
        hostOption: '"url"',
      });
      throw (
        refused ??
        new TransientDeliveryError('destination_unavailable', `HTTP forward to ${options.url.host} failed: ${(err as Error).message}`)
      );
    }
    const text = await readSome(res);
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return { remoteId: `${status}` };
    const reason = `HTTP forward to ${options.url.host} answered ${status}${text ? `: ${text}` : ''}`;
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfter = Number(res.headers['retry-after']);
      throw new TransientDeliveryError(
        status === 429 ? 'destination_throttled' : 'destination_unavailable',
        reason,
        Number.isFinite(retryAfter) ? retryAfter : undefined,
      );
    }
    throw new PermanentDeliveryError(
      status === 401 ? 'authentication_failed' : status === 403 ? 'permission_denied' : 'destination_refused',
      reason,
    );
  },
};

const quote = (s: string) => s.replace(/[\r\n"\\]/g, (c) => (c === '"' ? '%22' : c === '\\' ? '\\\\' : ' '));

async function* multipartBody(job: DeliveryJob, extra: ReadonlyArray<readonly [string, string]>, boundary: string): AsyncGenerator<Buffer> {
  for (const [name, value] of [...Object.entries(job.fields), ...extra]) {
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"\r\n\r\n${value}\r\n`);
  }
  for (const [i, file] of job.files.entries()) {
    const ascii = file.name.replace(/[^\x20-\x7e]/g, '_');
    yield Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file${i + 1}"; filename="${quote(ascii)}"; filename*=UTF-8''${encodeURIComponent(file.name)}\r\n` +
        `Content-Type: ${file.contentType.replace(/[\r\n]/g, '')}\r\n\r\n`,
    );
    for await (const chunk of await file.open()) yield chunk as Buffer;
    yield Buffer.from('\r\n');
  }
  yield Buffer.from(`--${boundary}--\r\n`);
}

async function readSome(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of res) {
    if (text.length < 300) text += (chunk as Buffer).toString('utf8');
  }
  return text.replace(/\s+/g, ' ').trim().slice(0, 300);
}
