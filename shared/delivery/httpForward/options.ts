/**
 * The options of an `httpForward` destination, as a zod schema: the target URL (https unless
 * allowed; credentials go in a secret, never in the URL), extra fields, the bearer token's secret,
 * private networks, the server's CA and the timeout. A CA given as text or as a file is read and
 * checked here, at start-up (`tls.caFile` relative to the app's folder, as DESTINATIONS_FILE); one
 * in the secret store is read at each delivery (index.ts).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { assertSecretName } from '../../secrets/types';
import { pemCertificates } from '../tls';
import { flag, text } from '../options';

/** The destination's own CA: PEM text (from `tls.ca` or `tls.caFile`), or a secret read at delivery. */
export type HttpForwardTls = { ca: string; source: string } | { caSecret: string };

const TLS_SOURCES = '"ca", "caFile" or "caSecret"';

const tls = z
  .strictObject(
    {
      ca: text().optional().meta({ description: 'The certificate text, PEM (`\\n` for line breaks in JSON).' }),
      caFile: text().optional().meta({
        description:
          "A PEM file deployed with the app; a relative path is from the app's folder, as `DESTINATIONS_FILE`. Read and checked at start-up.",
      }),
      caSecret: text()
        .refine(
          (v) => {
            try {
              assertSecretName(v);
              return true;
            } catch {
              return false;
            }
          },
          { error: 'must be a secret name: lowercase letters, digits and single dashes (kebab-case)' },
        )
        .optional()
        .meta({ description: 'The secret-store name of the PEM text, read at each delivery.' }),
    },
    {
      error: (issue) =>
        issue.code === 'unrecognized_keys'
          ? `accepts ${TLS_SOURCES} only, not ${issue.keys.map((k) => `"${k}"`).join(', ')}`
          : `must be an object with one of ${TLS_SOURCES}`,
    },
  )
  .refine((t) => [t.ca, t.caFile, t.caSecret].filter((v) => v !== undefined).length === 1, {
    error: 'must have exactly one of "ca" (PEM text), "caFile" (the path of a PEM file) or "caSecret" (the secret-store name of PEM text)',
  })
  .optional()
  .meta({
    description:
      "The CA that signed the server's certificate, when it is a private one: exactly one of the three below. Only for an `https://` URL; the PEM must hold certificates only (a private key is refused).",
  });

export const httpForwardOptionsSchema = z
  .object(
    {
      url: z
        .string({ error: 'must be an absolute URL' })
        .transform((v, ctx) => {
          try {
            return new URL(v);
          } catch {
            ctx.addIssue({ code: 'custom', message: 'must be an absolute URL' });
            return z.NEVER;
          }
        })
        .meta({ description: 'The target; `https://` only unless `allowHttp`.' }),
      allowHttp: flag().default(false).meta({ description: 'Allows an `http://` `url`.' }),
      extraFields: z
        .record(z.string(), z.string({ error: 'must be a string (a template)' }), {
          error: 'must map field names to string templates',
        })
        .default({})
        .meta({ description: 'Field name → *template*: fields added to the request.' }),
      bearerTokenSecret: z
        .string({ error: 'must be a secret name' })
        .optional()
        .meta({ description: 'The secret-store name of a bearer token sent as `Authorization`.' }),
      allowPrivateNetworks: flag().default(false).meta({
        description:
          'Allows loopback, private, link-local (including 169.254.169.254) and other internal addresses, which are otherwise refused: checked on the resolved address, which is then the one connected to.',
      }),
      tls,
      timeoutSeconds: z.coerce
        .number({ error: 'must be a whole number from 1 to 600' })
        .int({ error: 'must be a whole number from 1 to 600' })
        .min(1, { error: 'must be a whole number from 1 to 600' })
        .max(600, { error: 'must be a whole number from 1 to 600' })
        .default(120)
        .meta({ description: 'The time the request may take, in seconds (1–600).' }),
    },
    { error: 'must be an object' },
  )
  .superRefine((o, ctx) => {
    const refuse = (at: string, message: string) => ctx.addIssue({ code: 'custom', path: [at], message });
    if (o.url.protocol !== 'https:' && !(o.url.protocol === 'http:' && o.allowHttp))
      refuse('url', 'must be https:// (set "allowHttp": true to allow http://)');
    else if (o.url.username || o.url.password) refuse('url', 'must not carry credentials; use "bearerTokenSecret"');
    else if (o.tls && o.url.protocol !== 'https:') refuse('tls', 'applies to an https:// "url" only');
  })
  .transform(({ timeoutSeconds, tls: given, ...o }, ctx) => ({ ...o, tls: readCa(given, ctx), timeoutMs: timeoutSeconds * 1000 }));

/** The CA named by `tls`, its PEM read and checked now (a secret's at each delivery). */
function readCa(given: z.output<typeof tls>, ctx: z.RefinementCtx): HttpForwardTls | undefined {
  // pemCertificates' message follows the name it is given: here the problem, after the option's path.
  const certificates = (pem: string, at: 'ca' | 'caFile', after = '') => {
    try {
      return pemCertificates(pem, after);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['tls', at], message: (err as Error).message.trimStart() });
      return z.NEVER;
    }
  };
  if (given?.ca !== undefined) return { ca: certificates(given.ca, 'ca'), source: '"tls.ca"' };
  if (given?.caFile !== undefined) {
    const file = path.resolve(given.caFile);
    let pem: string;
    try {
      pem = readFileSync(file, 'utf8');
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        path: ['tls', 'caFile'],
        message: `: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      });
      return z.NEVER;
    }
    return { ca: certificates(pem, 'caFile', `(${file})`), source: `"tls.caFile" (${file})` };
  }
  return given?.caSecret !== undefined ? { caSecret: given.caSecret } : undefined;
}

export type HttpForwardOptions = z.output<typeof httpForwardOptionsSchema>;
