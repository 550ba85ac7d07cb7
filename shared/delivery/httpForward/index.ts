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
import { readFileSync } from 'node:fs';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupAddress } from 'node:dns';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { assertSecretName } from '../../secrets/types';
import { renderTemplate } from '../template';
import { certificateRefused, pemCertificates, serverName } from '../tls';
import { PermanentDeliveryError, TransientDeliveryError, type Connector, type DeliveryContext, type DeliveryJob } from '../types';
import { resolveTarget } from './ssrf';

/** The destination's own CA: PEM text (from `tls.ca` or `tls.caFile`), or a secret read at delivery. */
export type HttpForwardTls = { ca: string; source: string } | { caSecret: string };

export interface HttpForwardOptions {
  url: URL;
  allowHttp: boolean;
  allowPrivateNetworks: boolean;
  /** Extra text fields added to the request (values are templates). */
  extraFields: Record<string, string>;
  /** Secret-store name of a bearer token sent as Authorization, if any. */
  bearerTokenSecret?: string;
  /** The CA the server's certificate must chain to, instead of Node's trusted CAs. */
  tls?: HttpForwardTls;
  timeoutMs: number;
}

const TLS_KEYS = ['ca', 'caFile', 'caSecret'] as const;

function parseTls(raw: unknown, url: URL): HttpForwardTls | undefined {
  if (raw === undefined) return undefined;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error('"tls" must be an object with one of "ca", "caFile" or "caSecret".');
  const t = raw as Record<string, unknown>;
  const unknown = Object.keys(t).filter((k) => !(TLS_KEYS as readonly string[]).includes(k));
  if (unknown.length > 0)
    throw new Error(`"tls" accepts "ca", "caFile" or "caSecret" only, not ${unknown.map((k) => `"${k}"`).join(', ')}.`);
  const given = TLS_KEYS.filter((k) => t[k] !== undefined);
  if (given.length !== 1) {
    throw new Error(
      '"tls" must have exactly one of "ca" (PEM text), "caFile" (the path of a PEM file) or "caSecret" (the secret-store name of PEM text).',
    );
  }
  if (url.protocol !== 'https:') throw new Error('"tls" applies to an https:// "url" only.');
  const value = t[given[0]!];
  if (typeof value !== 'string' || value.trim() === '') throw new Error(`"tls.${given[0]}" must be a non-empty string.`);
  switch (given[0]!) {
    case 'ca':
      return { ca: pemCertificates(value, '"tls.ca"'), source: '"tls.ca"' };
    case 'caFile': {
      // Relative to the app's folder (the working directory), as DESTINATIONS_FILE is.
      const file = path.resolve(value);
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch (err) {
        throw new Error(`"tls.caFile": ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`, { cause: err });
      }
      return { ca: pemCertificates(text, `"tls.caFile" (${file})`), source: `"tls.caFile" (${file})` };
    }
    default:
      try {
        assertSecretName(value);
      } catch {
        throw new Error('"tls.caSecret" must be a secret name: lowercase letters, digits and single dashes (kebab-case).');
      }
      return { caSecret: value };
  }
}

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
  parseOptions(raw) {
    const o = (raw ?? {}) as Record<string, unknown>;
    let url: URL;
    try {
      url = new URL(String(o.url));
    } catch {
      throw new Error('"url" must be an absolute URL.');
    }
    const allowHttp = o.allowHttp === true;
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowHttp)) {
      throw new Error('"url" must be https:// (set "allowHttp": true to allow http://).');
    }
    if (url.username || url.password) throw new Error('"url" must not carry credentials; use "bearerTokenSecret".');
    const extraFields = (o.extraFields ?? {}) as Record<string, unknown>;
    if (typeof extraFields !== 'object' || Object.values(extraFields).some((v) => typeof v !== 'string')) {
      throw new Error('"extraFields" must map field names to string templates.');
    }
    const timeout = o.timeoutSeconds === undefined ? 120 : Number(o.timeoutSeconds);
    if (!Number.isInteger(timeout) || timeout < 1 || timeout > 600)
      throw new Error('"timeoutSeconds" must be a whole number from 1 to 600.');
    if (o.bearerTokenSecret !== undefined && typeof o.bearerTokenSecret !== 'string')
      throw new Error('"bearerTokenSecret" must be a secret name.');
    return {
      url,
      allowHttp,
      allowPrivateNetworks: o.allowPrivateNetworks === true,
      extraFields: extraFields as Record<string, string>,
      bearerTokenSecret: o.bearerTokenSecret,
      tls: parseTls(o.tls, url),
      timeoutMs: timeout * 1000,
    };
  },

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
      // Connect to the address that was checked, whatever DNS says now. Node's connect asks with
      // { all: true } when it may try several addresses (autoSelectFamily, on by default since
      // Node 20: https://nodejs.org/api/net.html#socketconnectoptions-connectlistener) and then
      // expects a list; a single address for it failed every host name URL with "Invalid IP address".
      lookup: (_host, opts, cb) =>
        opts.all
          ? (cb as unknown as (e: null, a: LookupAddress[]) => void)(null, [{ address: target.address, family: target.family }])
          : (cb as (e: null, a: string, f: number) => void)(null, target.address, target.family),
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
