/**
 * The multipart reader on its own: the same parts whatever the chunking (every split point of
 * a body, and random splits), the file's first bytes gathered however they arrive, and the
 * grammar's edges (delimiters, padding, parameters).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ScanLimits } from '../../shared/config';
import { parseMultipart, SNIFF_BYTES, type FilePart } from '../../shared/ingest/multipart';

const limits: ScanLimits = { maxRequestBytes: 10_000_000, maxFileBytes: 10_000_000, maxFiles: 10, maxFields: 20, maxFieldBytes: 1000 };
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Seen {
  fields: Array<[string, string]>;
  files: Array<{ field: string; filename: string; declaredType: string; head: string; sha256: string; size: number }>;
}

async function read(chunks: Buffer[], boundary = 'b', options: Partial<ScanLimits> = {}): Promise<Seen> {
  const seen: Seen = { fields: [], files: [] };
  await parseMultipart(
    Readable.from(chunks),
    `multipart/form-data; boundary=${boundary}`,
    undefined,
    { ...limits, ...options },
    {
      onField: (name, value) => void seen.fields.push([name, value]),
      onFile: async (part: FilePart) => {
        const parts: Buffer[] = [];
        for await (const c of part.stream) parts.push(c as Buffer);
        const all = Buffer.concat(parts);
        seen.files[part.index] = {
          field: part.field,
          filename: part.filename,
          declaredType: part.declaredType,
          head: part.head.toString('hex'),
          sha256: sha256(all),
          size: all.length,
        };
      },
    },
  );
  return seen;
}

const tiff = Buffer.concat([Buffer.from('II*\0'), Buffer.alloc(40, 7)]);
const body = Buffer.concat([
  Buffer.from('preamble, ignored\r\n--b\r\nContent-Disposition: form-data; name="username"\r\n\r\njdoe\r\n'),
  Buffer.from('--b \t\r\nContent-Disposition: form-data; name="file1"; filename="p.tif"\r\nContent-Type: text/plain\r\n\r\n'),
  tiff,
  Buffer.from('\r\n--b\r\nContent-Disposition: form-data; name="empty"\r\n\r\n\r\n'),
  Buffer.from('--b\r\nContent-Disposition: form-data; name="file2"; filename="x.bin"\r\n\r\n\r\n--bX\r\n--b-\r\n'),
  Buffer.from('\r\n--b--\r\nepilogue, ignored'),
]);

const expected: Seen = {
  fields: [
    ['username', 'jdoe'],
    ['empty', ''],
  ],
  files: [
    {
      field: 'file1',
      filename: 'p.tif',
      declaredType: 'text/plain',
      head: tiff.subarray(0, SNIFF_BYTES).toString('hex'),
      sha256: sha256(tiff),
      size: tiff.length,
    },
    // '\r\n--bX\r\n--b-\r\n' is content: neither '--bX' nor '--b-\r' ends a delimiter.
    {
      field: 'file2',
      filename: 'x.bin',
      declaredType: 'application/octet-stream',
      head: Buffer.from('\r\n--bX\r\n--b-\r\n').toString('hex'),
      sha256: sha256(Buffer.from('\r\n--bX\r\n--b-\r\n')),
      size: 14,
    },
  ],
};

describe('the same parts however the body is split', () => {
  it('in one piece', async () => {
    expect(await read([body])).toEqual(expected);
  });

  it('split in two at every position', async () => {
    for (let at = 1; at < body.length; at++) {
      expect({ at, seen: await read([body.subarray(0, at), body.subarray(at)]) }).toEqual({ at, seen: expected });
    }
  });

  it('one byte at a time', async () => {
    expect(await read([...body].map((b) => Buffer.from([b])))).toEqual(expected);
  });

  it('in random pieces (fixed seed)', async () => {
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 200; round++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < body.length;) {
        const n = 1 + Math.floor(random() * 24);
        chunks.push(body.subarray(at, at + n));
        at += n;
      }
      expect(await read(chunks)).toEqual(expected);
    }
  });
});

describe('the grammar', () => {
  const one = (headers: string, content = 'v') => Buffer.from(`--b\r\n${headers}\r\n\r\n${content}\r\n--b--\r\n`);

  it('a body without preamble, a part with an empty body right before the close delimiter', async () => {
    expect((await read([Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n\r\n--b--')])).fields).toEqual([['a', '']]);
  });

  it.each([
    ['quoted-pair for a quote', 'form-data; name="f"; filename="a\\"b.pdf"', 'a"b.pdf'],
    ['a Windows path keeps its backslashes', 'form-data; name="f"; filename="C:\\Users\\a.pdf"', 'C:\\Users\\a.pdf'],
    ['RFC 5987 filename* over filename', `form-data; name="f"; filename="x.pdf"; filename*=UTF-8''%E6%97%A5.pdf`, '日.pdf'],
    ['ISO-8859-1 filename*', `form-data; name="f"; filename*=iso-8859-1'de'%E4.pdf`, 'ä.pdf'],
    ['an unreadable filename* falls back to filename', `form-data; name="f"; filename="x.pdf"; filename*=nonsense`, 'x.pdf'],
    ['raw UTF-8 in a quoted name', 'form-data; name="f"; filename="Příloha.pdf"', 'Příloha.pdf'],
    ['case-insensitive type and parameter names', 'Form-Data; NAME="f"; FileName="A.pdf"', 'A.pdf'],
  ])('%s', async (_n, disposition, filename) => {
    const seen = await read([one(`Content-Disposition: ${disposition}`, '%PDF-1.4')]);
    expect(seen.files[0]?.filename).toBe(filename);
  });

  it('an obs-folded header line continues the previous one', async () => {
    const seen = await read([one('Content-Disposition: form-data;\r\n name="folded"')]);
    expect(seen.fields).toEqual([['folded', 'v']]);
  });

  it('a field in ISO-8859-1 is decoded from its charset', async () => {
    const part = Buffer.concat([
      Buffer.from('--b\r\nContent-Disposition: form-data; name="n"\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n'),
      Buffer.from([0xe4]),
      Buffer.from('\r\n--b--'),
    ]);
    expect((await read([part])).fields).toEqual([['n', 'ä']]);
  });

  it.each([
    [
      'garbage after the boundary',
      Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--b  x\r\n--b--'),
      'malformed_multipart',
    ],
    ['no closing boundary', Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nv'), 'malformed_multipart'],
    [
      'headers over 16 KiB',
      Buffer.from(`--b\r\nContent-Disposition: form-data; name="a"\r\nX: ${'y'.repeat(17000)}\r\n\r\nv\r\n--b--`),
      'malformed_multipart',
    ],
    ['a parameter given twice', one('Content-Disposition: form-data; name="a"; name="b"'), 'malformed_multipart'],
    ['text after a quoted value', one('Content-Disposition: form-data; name="a"x'), 'malformed_multipart'],
    ['a NUL in a header', one('Content-Disposition: form-data; name="a\0"'), 'malformed_multipart'],
  ])('%s: refused', async (_n, bytes, code) => {
    await expect(read([bytes])).rejects.toMatchObject({ code });
  });

  it('the boundary of the Content-Type must be printable ASCII of at most 200', async () => {
    await expect(read([body], 'b'.repeat(201))).rejects.toMatchObject({ code: 'malformed_content_type' });
    await expect(read([body], 'b\u00e9')).rejects.toMatchObject({ code: 'malformed_content_type' });
  });

  it('a quoted boundary holding a semicolon', async () => {
    const seen: string[] = [];
    await parseMultipart(
      Readable.from([Buffer.from('--a;b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--a;b--')]),
      'multipart/form-data; boundary="a;b"',
      undefined,
      limits,
      {
        onField: (n) => void seen.push(n),
        onFile: async () => undefined,
      },
    );
    expect(seen).toEqual(['x']);
  });

  it('settles when a handler rejects, and destroys the file streams still open', async () => {
    const streams: Readable[] = [];
    const twoFiles = Buffer.concat([
      Buffer.from('--b\r\nContent-Disposition: form-data; name="f1"; filename="1"\r\n\r\n'),
      Buffer.alloc(1000, 1), // fits the stream's buffer: the reader moves on while nobody reads it
      Buffer.from('\r\n--b\r\nContent-Disposition: form-data; name="f2"; filename="2"\r\n\r\n'),
      Buffer.alloc(100_000, 2),
      Buffer.from('\r\n--b--'),
    ]);
    const outcome = parseMultipart(Readable.from([twoFiles]), 'multipart/form-data; boundary=b', undefined, limits, {
      onField: () => undefined,
      onFile: async (part) => {
        streams.push(part.stream);
        if (part.index === 1) throw new Error('refused');
        await new Promise((r) => part.stream.once('close', r)); // never reads it
      },
    });
    await expect(outcome).rejects.toThrow('refused');
    expect(streams.map((s) => s.destroyed)).toEqual([true, true]);
  });

  it('an abort from outside fails the request', async () => {
    const abort = new AbortController();
    const never = new Readable({ read() {} });
    never.push(Buffer.from('--b\r\nContent-Disposition: form-data; name="a"\r\n\r\n'));
    const outcome = parseMultipart(
      never,
      'multipart/form-data; boundary=b',
      undefined,
      limits,
      { onField: () => undefined, onFile: async () => undefined },
      abort.signal,
    );
    abort.abort(new Error('lease lost'));
    await expect(outcome).rejects.toThrow('lease lost');
  });
});
