/** Finding and describing a refused certificate (shared/delivery/tls.ts) without a server: the shapes errors come in, and hostile certificate text. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { certificateError, certificateRefused, pemCertificates, serverName } from '../../shared/delivery/tls';
import { PermanentDeliveryError } from '../../shared/delivery/types';

const CA = readFileSync(join(__dirname, '..', 'fixtures', 'tls', 'ca.pem'), 'utf8');

describe('certificateError', () => {
  it("finds Node's code on the error, as nodemailer's originalCode, or in a cause", () => {
    expect(certificateError(Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' }))?.code).toBe(
      'CERT_HAS_EXPIRED',
    );
    expect(
      certificateError(
        Object.assign(new Error('self-signed certificate'), { code: 'ESOCKET', originalCode: 'DEPTH_ZERO_SELF_SIGNED_CERT' }),
      )?.code,
    ).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    const cause = Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    expect(certificateError(new TypeError('fetch failed', { cause }))?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });

  it('is undefined for other errors, odd values and a cause that loops', () => {
    for (const err of [
      new Error('x'),
      Object.assign(new Error('reset'), { code: 'ECONNRESET' }),
      'CERT_HAS_EXPIRED',
      null,
      undefined,
      42,
      { code: 'toString' },
    ]) {
      expect(certificateError(err)).toBeUndefined();
    }
    const loop: Error & { cause?: unknown } = new Error('loop');
    loop.cause = loop;
    expect(certificateError(loop)).toBeUndefined();
  });
});

describe('certificateRefused', () => {
  it("keeps the server's certificate text to one bounded line", async () => {
    const cert = {
      subject: { CN: 'evil\r\nInjected: line', O: 'x'.repeat(1000) },
      issuer: { CN: 'issuer\u0000' },
      subjectaltname: 'DNS:a\nDNS:b',
      valid_from: 'Jan  1 00:00:00 2020 GMT',
      valid_to: 'garbage\r\n',
    } as unknown as PeerCertificate;
    const err = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      cert,
    });
    const refused = await certificateRefused(err, {
      label: 'Test',
      target: { host: 'mail.example', port: 587 },
      hostOption: '"auth.host"',
    });
    expect(refused).toBeInstanceOf(PermanentDeliveryError);
    expect(refused!.message).not.toMatch(/[\u0000-\u001f]/);
    expect(refused!.message).toMatch(
      /^Test: the TLS certificate of mail\.example:587 was refused: it is not issued for mail\.example \(ERR_TLS_CERT_ALTNAME_INVALID\)\. Certificate: subject "CN=evil Injected: line, O=x+/,
    );
    expect(refused!.message.length).toBeLessThan(1000);
  });

  it('is undefined for an error that is not about a certificate', async () => {
    expect(
      await certificateRefused(new Error('reset'), { label: 'Test', target: { host: 'h', port: 1 }, hostOption: '"url"' }),
    ).toBeUndefined();
  });
});

describe('pemCertificates and serverName', () => {
  it('returns the certificate blocks only and refuses what is not one', () => {
    expect(pemCertificates(`junk\n${CA}junk`, 'x')).toBe(`${CA.trim()}\n`);
    expect(() => pemCertificates('', '"tls.ca"')).toThrow('"tls.ca" must be PEM text');
    expect(() => pemCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', '"tls.ca"')).toThrow(
      'not a readable X.509 certificate',
    );
    expect(() => pemCertificates(`${CA}-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n`, '"tls.ca"')).toThrow(
      'contains a private key',
    );
  });

  it('gives a server name for host names only', () => {
    expect(serverName('fax.example.net')).toBe('fax.example.net');
    expect(serverName('127.0.0.1')).toBeUndefined();
    expect(serverName('[::1]')).toBeUndefined();
    expect(serverName('::1')).toBeUndefined();
  });
});
