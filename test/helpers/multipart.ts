/** Builds multipart/form-data bodies byte by byte, so tests can also build broken ones. */
import { randomBytes } from 'node:crypto';

export type Part =
  | { name: string; value: string }
  | { name: string; filename: string; data: Buffer | string; contentType?: string; rawDisposition?: string };

export interface Multipart {
  boundary: string;
  contentType: string;
  body: Buffer;
}

export function multipart(parts: Part[], options: { boundary?: string; close?: boolean } = {}): Multipart {
  const boundary = options.boundary ?? `----scanrelay${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\n`));
    if ('value' in p) {
      chunks.push(Buffer.from(`Content-Disposition: form-data; name="${p.name}"\r\n\r\n`));
      chunks.push(Buffer.from(p.value, 'utf8'));
    } else {
      const disposition = p.rawDisposition ?? `form-data; name="${p.name}"; filename="${p.filename}"`;
      chunks.push(Buffer.from(`Content-Disposition: ${disposition}\r\n`, 'utf8'));
      chunks.push(Buffer.from(`Content-Type: ${p.contentType ?? 'application/octet-stream'}\r\n\r\n`));
      chunks.push(typeof p.data === 'string' ? Buffer.from(p.data) : p.data);
    }
    chunks.push(Buffer.from('\r\n'));
  }
  if (options.close !== false) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { boundary, contentType: `multipart/form-data; boundary=${boundary}`, body: Buffer.concat(chunks) };
}

/** A small but real-looking PDF (recognised by its %PDF- magic). */
export function pdfBytes(size = 2048): Buffer {
  const head = Buffer.from('%PDF-1.7\n');
  return Buffer.concat([head, randomBytes(Math.max(0, size - head.length))]);
}
