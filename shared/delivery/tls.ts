/**
 * TLS for the connectors: a server certificate that fails verification is a configuration error
 * (retrying cannot help), reported at once with the certificate it concerns and why; CA
 * certificates given as PEM text; and SNI only for host names.
 *
 * How a refusal looks: Node rejects a peer certificate with an error whose `code` is OpenSSL's
 * verification code (`DEPTH_ZERO_SELF_SIGNED_CERT`, `CERT_HAS_EXPIRED`..., the list of
 * X509_verify_cert_error_string), or `ERR_TLS_CERT_ALTNAME_INVALID` from tls.checkServerIdentity,
 * which also carries the certificate (`err.cert`) and the reason (`err.reason`). nodemailer
 * replaces `code` with its own (`ESOCKET`) and keeps Node's as `originalCode`; fetch (undici)
 * throws `TypeError: fetch failed` with Node's error as `cause`.
 *
 * A chain error carries no certificate (Node destroys the socket before anyone can read it), so
 * after a refusal a separate probe handshake with verification off reads the certificate the
 * server presents, only to name it in the report: nothing is sent on it but the TLS handshake
 * (for SMTP first EHLO and STARTTLS), it is closed at once and bounded in time; when it fails the
 * report names the host without the certificate.
 */
import { X509Certificate } from 'node:crypto';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { PermanentDeliveryError } from './types';

type Kind = 'trust' | 'validity' | 'name' | 'other';

/** Node's verification codes for a certificate (not CRLs, not out-of-memory), in words. */
const CERTIFICATE_ERRORS: Readonly<Record<string, { kind: Kind; words: string }>> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: { kind: 'trust', words: 'it is self-signed and not trusted' },
  SELF_SIGNED_CERT_IN_CHAIN: { kind: 'trust', words: 'its chain ends in a self-signed root CA that is not trusted' },
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: {
    kind: 'trust',
    words: 'it is not issued by a trusted CA (an unknown CA, or the server does not send its intermediate certificates)',
  },
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: { kind: 'trust', words: 'it is issued by a CA that is not trusted (an unknown CA)' },
  UNABLE_TO_GET_ISSUER_CERT: {
    kind: 'trust',
    words: "its issuer's certificate is missing (the server does not send its intermediate certificates)",
  },
  CERT_UNTRUSTED: { kind: 'trust', words: 'it is not trusted for this purpose' },
  CERT_REJECTED: { kind: 'trust', words: 'its root CA is marked to reject this purpose' },
  INVALID_CA: { kind: 'trust', words: 'a certificate in its chain is not a valid CA certificate' },
  PATH_LENGTH_EXCEEDED: { kind: 'trust', words: 'its chain is longer than a CA in it allows' },
  CERT_CHAIN_TOO_LONG: { kind: 'trust', words: 'its chain is too long' },
  CERT_HAS_EXPIRED: { kind: 'validity', words: 'it has expired' },
  CERT_NOT_YET_VALID: { kind: 'validity', words: 'it is not valid yet' },
  ERROR_IN_CERT_NOT_BEFORE_FIELD: { kind: 'validity', words: 'its start date is malformed' },
  ERROR_IN_CERT_NOT_AFTER_FIELD: { kind: 'validity', words: 'its end date is malformed' },
  ERR_TLS_CERT_ALTNAME_INVALID: { kind: 'name', words: 'it is not issued for this host name' },
  HOSTNAME_MISMATCH: { kind: 'name', words: 'it is not issued for this host name' },
  CERT_REVOKED: { kind: 'other', words: 'it has been revoked' },
  CERT_SIGNATURE_FAILURE: { kind: 'other', words: 'its signature is invalid' },
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: { kind: 'other', words: 'its signature cannot be checked' },
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: { kind: 'other', words: "its issuer's public key cannot be read" },
  INVALID_PURPOSE: { kind: 'other', words: 'it is not meant for a TLS server (extended key usage)' },
};

interface CertificateError {
  code: string;
  /** The certificate, when Node attached it (host name mismatch). */
  cert?: PeerCertificate;
  /** Node's reason for a host name mismatch ("IP: 127.0.0.1 is not in the cert's list: "). */
  reason?: string;
}

/** The certificate verification failure in `err` (its code, nodemailer's originalCode, or a cause), if it is one. */
export function certificateError(err: unknown): CertificateError | undefined {
  let e = err as { code?: unknown; originalCode?: unknown; cert?: PeerCertificate; reason?: unknown; cause?: unknown } | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++, e = e.cause as typeof e) {
    for (const code of [e.originalCode, e.code]) {
      if (typeof code === 'string' && Object.hasOwn(CERTIFICATE_ERRORS, code)) {
        return {
          code,
          cert: e.cert && typeof e.cert === 'object' ? e.cert : undefined,
          reason: typeof e.reason === 'string' ? e.reason : undefined,
        };
      }
    }
  }
  return undefined;
}

/** Where the refused certificate was presented, for the report (and the probe). */
export interface TlsTarget {
  /** The host name or address shown and, for the probe, connected to. */
  host: string;
  port: number;
  /** The address actually connected to, when it differs from `host` (the SSRF-checked one). */
  address?: string;
  /** 'smtp': the certificate comes after EHLO and STARTTLS. */
  starttls?: 'smtp';
  /** Bound of the probe (at most 10 s). */
  timeoutMs?: number;
}

export interface RefusalContext {
  /** Start of the reason, e.g. "SMTP delivery to mail.contoso.com:587". */
  label: string;
  target: TlsTarget;
  /** The options that trust a CA for this destination, e.g. '"tls.ca"'; none: only NODE_EXTRA_CA_CERTS. */
  caOptions?: string;
  /** The option that names the host, e.g. '"auth.host"'. */
  hostOption: string;
}

/**
 * A PermanentDeliveryError naming the refused certificate (host, subject, issuer, validity, names)
 * and why, with what to do; undefined when `err` is not a certificate verification failure.
 */
export async function certificateRefused(err: unknown, ctx: RefusalContext): Promise<PermanentDeliveryError | undefined> {
  const found = certificateError(err);
  if (!found) return undefined;
  const { target } = ctx;
  const where = `${target.host.includes(':') && !target.host.startsWith('[') ? `[${target.host}]` : target.host}:${target.port}`;
  const cert = found.cert ?? (await presentedCertificate(target));
  const { kind } = CERTIFICATE_ERRORS[found.code]!;
  let words = CERTIFICATE_ERRORS[found.code]!.words;
  if (found.code === 'CERT_HAS_EXPIRED' && cert?.valid_to) words = `it expired on ${day(cert.valid_to)}`;
  if (found.code === 'CERT_NOT_YET_VALID' && cert?.valid_from) words = `it is valid only from ${day(cert.valid_from)}`;
  if (kind === 'name') words = `it is not issued for ${target.host.replace(/^\[|\]$/g, '')}`;
  const trust = ctx.caOptions
    ? `trust its CA with ${ctx.caOptions} (or NODE_EXTRA_CA_CERTS for the whole app)`
    : 'trust its CA with NODE_EXTRA_CA_CERTS';
  const advice: Record<Kind, string> = {
    trust: `Give the server a certificate from a trusted CA (with its intermediate certificates), or ${trust}.`,
    validity: "Renew the server's certificate (or check the clocks).",
    name: `Use a host name the certificate names in ${ctx.hostOption}, or give the server a certificate for ${target.host.replace(/^\[|\]$/g, '')}.`,
    other: "Replace the server's certificate.",
  };
  return new PermanentDeliveryError(
    'certificate_refused',
    `${ctx.label}: the TLS certificate of ${where} was refused: ${words} (${found.code}). ${cert ? `${describe(cert)}. ` : ''}${advice[kind]}`,
  );
}

/**
 * certificateRefused for a request to Microsoft Graph at `url` (the delivery connectors' and the
 * directory sync's): the host is GRAPH_BASE_URL's, whose CA only NODE_EXTRA_CA_CERTS can trust.
 */
export function graphCertificateRefused(err: unknown, url: string): Promise<PermanentDeliveryError | undefined> {
  const { hostname, host, port } = new URL(url);
  return certificateRefused(err, {
    label: `Microsoft Graph at ${host}`,
    target: { host: hostname, port: Number(port) || 443 },
    hostOption: 'GRAPH_BASE_URL',
  });
}

/** Certificate text from the peer: no control characters, bounded (it is the server's to choose). */
function clean(s: string, max = 200): string {
  return s
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim()
    .slice(0, max);
}

function day(date: string): string {
  const t = Date.parse(date);
  return Number.isNaN(t) ? clean(date, 40) : new Date(t).toISOString().slice(0, 10);
}

function distinguishedName(name: PeerCertificate['subject'] | undefined): string {
  if (!name || typeof name !== 'object') return '';
  return clean(
    Object.entries(name)
      .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`)
      .join(', '),
  );
}

function describe(cert: PeerCertificate): string {
  const parts = [`Certificate: subject "${distinguishedName(cert.subject)}"`, `issuer "${distinguishedName(cert.issuer)}"`];
  if (cert.valid_from && cert.valid_to) parts.push(`valid ${day(cert.valid_from)} to ${day(cert.valid_to)}`);
  if (cert.subjectaltname) parts.push(`names ${clean(cert.subjectaltname)}`);
  if (cert.fingerprint256) parts.push(`SHA-256 ${clean(cert.fingerprint256, 100)}`);
  return parts.join(', ');
}

/**
 * The certificates of a CA option, checked: PEM text with one or more `CERTIFICATE` blocks, each
 * readable as X.509, and no private key (a CA option needs only the certificate). Returns just the
 * certificate blocks. Throws an Error naming `what` (the option, file or secret), never quoting
 * the text.
 */
export function pemCertificates(text: string, what: string): string {
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Error(`${what} contains a private key: give only the CA's certificate.`);
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${what} must be PEM text with one or more certificates ("-----BEGIN CERTIFICATE-----").`);
  for (const [i, block] of blocks.entries()) {
    try {
      new X509Certificate(block);
    } catch {
      throw new Error(`${what}: certificate ${i + 1} of ${blocks.length} is not a readable X.509 certificate.`);
    }
  }
  return `${blocks.join('\n')}\n`;
}

/** SNI carries host names only: an address as servername is not permitted (RFC 6066 §3; Node's DEP0123 warning). */
export function serverName(host: string): string | undefined {
  const bare = host.replace(/^\[|\]$/g, '');
  return isIP(bare) ? undefined : bare;
}

const PROBE_MAX_MS = 10_000;

/** The certificate the server presents (verification off; nothing but the handshake is sent), or undefined. */
function presentedCertificate(target: TlsTarget): Promise<PeerCertificate | undefined> {
  const host = (target.address ?? target.host).replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const sockets: Socket[] = [];
    let settled = false;
    const finish = (cert?: PeerCertificate) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // The outermost socket only: a TLS socket closes the one under it (destroying the plain
      // socket under a TLS socket from its own secureConnect callback crashes Node 20).
      sockets.at(-1)?.destroy();
      resolve(cert && Object.keys(cert).length > 0 ? cert : undefined);
    };
    const timer = setTimeout(() => finish(), Math.min(target.timeoutMs ?? PROBE_MAX_MS, PROBE_MAX_MS));
    timer.unref();
    const handshake = (socket?: Socket) => {
      const secure = tlsConnect(
        {
          socket,
          host,
          port: target.port,
          servername: serverName(target.host),
          rejectUnauthorized: false,
          checkServerIdentity: () => undefined,
        },
        () => finish(secure.getPeerCertificate()),
      );
      sockets.push(secure);
      secure.on('error', () => finish());
    };
    if (target.starttls !== 'smtp') return handshake();

    // SMTP: greeting, EHLO, STARTTLS, then the handshake on the same socket (RFC 3207).
    const plain = netConnect({ host, port: target.port });
    sockets.push(plain);
    plain.on('error', () => finish());
    plain.on('close', () => finish());
    const steps: Array<[expect: string, then: () => void]> = [
      ['220', () => plain.write('EHLO [127.0.0.1]\r\n')],
      ['250', () => plain.write('STARTTLS\r\n')],
      [
        '220',
        () => {
          plain.removeAllListeners('data');
          plain.removeAllListeners('close');
          handshake(plain);
        },
      ],
    ];
    let buffered = '';
    plain.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      if (buffered.length > 64 * 1024) return finish();
      // A reply is complete at its last line: "ddd text" (continuation lines are "ddd-text").
      const lines = buffered.split('\r\n');
      buffered = lines.pop()!;
      for (const line of lines) {
        if (/^\d{3}-/.test(line)) continue;
        const step = steps.shift();
        if (!step || !line.startsWith(step[0])) return finish();
        step[1]();
        if (steps.length === 0) return;
      }
    });
  });
}
