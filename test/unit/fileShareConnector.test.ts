import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { classify, fileShareConnector, type FileShareOptions } from '../../shared/delivery/fileShare';
import { MissingVariableError } from '../../shared/delivery/template';
import {
  PermanentDeliveryError,
  TransientDeliveryError,
  type DeliveryContext,
  type DeliveryFile,
  type DeliveryJob,
} from '../../shared/delivery/types';
import { silentLogger } from '../../shared/log';

// The file share connector only logs; the rest of the context is never called.
const context = { log: silentLogger } as Partial<DeliveryContext> as DeliveryContext;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function file(name: string, content: Buffer, contentType = 'application/pdf'): DeliveryFile {
  return { name, contentType, size: content.length, sha256: sha256(content), open: async () => Readable.from([content]) };
}

function job(files: DeliveryFile[], fields: Record<string, string> = {}): DeliveryJob {
  return {
    jobId: `job-${randomBytes(4).toString('hex')}`,
    receivedAt: new Date('2021-02-17T10:00:00Z'),
    fields: { deviceName: 'MFP-3rd-floor', scanDate: '2021-02-17', ...fields },
    files,
  };
}

const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(200_000), Buffer.from('\n%%EOF\n')]);
const jpeg = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), randomBytes(150_000), Buffer.from([0xff, 0xd9])]);

/** Every file under dir, relative, sorted (folders end with /). */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const rel = path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
    out.push(e.isDirectory() ? `${rel}/` : rel);
  }
  return out.sort();
}

let sandbox: string; // the root's parent: must never get anything new
let root: string;

beforeEach(async () => {
  sandbox = await mkdtemp(path.join(tmpdir(), 'scanrelay-fileshare-'));
  root = path.join(sandbox, 'share');
  await mkdir(root);
});

afterEach(async () => {
  await rm(sandbox, { recursive: true, force: true });
});

const options = (raw: Record<string, unknown>): FileShareOptions => fileShareConnector.parseOptions(raw);
const deliver = (j: DeliveryJob, o: FileShareOptions) => fileShareConnector.deliver(j, o, context);

describe('fileShare options', () => {
  it('parses defaults and the fixed root', () => {
    const o = options({ basePath: '/mounts/scans/%userHome%/Scans', folder: '%deviceName%' });
    expect(o.root).toBe(path.resolve('/mounts/scans'));
    expect(o.conflictBehavior).toBe('keepBoth');
    expect(o.createFolders).toBe(true);
    expect(o.fileName).toBeUndefined();
    expect(options({ basePath: '/mounts/scans/home-%userName%' }).root).toBe(path.resolve('/mounts/scans'));
  });

  it.each([
    ['"basePath"', {}],
    ['"basePath"', { basePath: '' }],
    ['"basePath"', { basePath: 'relative/dir' }],
    ['"basePath"', { basePath: '%userHome%/Scans' }],
    ['"basePath"', { basePath: '/mounts/../etc' }],
    ['"basePath"', { basePath: '/mounts/scans/%deviceName%/../x' }],
    ['"basePath"', { basePath: '/mounts/scans/home-%userHome%' }],
    ['"basePath"', { basePath: '/mounts/scans\n' }],
    ['"folder"', { basePath: '/mounts/scans', folder: 42 }],
    ['"folder"', { basePath: '/mounts/scans', folder: 'a/../..' }],
    ['"fileName"', { basePath: '/mounts/scans', fileName: '' }],
    ['"fileName"', { basePath: '/mounts/scans', fileName: 'a/%fileName%' }],
    ['"fileName"', { basePath: '/mounts/scans', fileName: '..' }],
    ['"fileName"', { basePath: '/mounts/scans', fileName: 7 }],
    ['"conflictBehavior"', { basePath: '/mounts/scans', conflictBehavior: 'overwrite' }],
    ['"createFolders"', { basePath: '/mounts/scans', createFolders: 'yes' }],
  ])('refuses a bad %s', (name, raw) => {
    expect(() => options(raw)).toThrow(name);
  });
});

describe('fileShare delivery', () => {
  it('delivers a PDF and a JPEG byte-identically into the rendered folder', async () => {
    const o = options({ basePath: root, folder: '/%deviceName%/%scanDate%' });
    const result = await deliver(job([file('Scan.pdf', pdf), file('photo', jpeg, 'image/jpeg')]), o);
    const dir = path.join(root, 'MFP-3rd-floor', '2021-02-17');
    expect(result.remoteId).toBe(`${path.join(dir, 'Scan.pdf')}; ${path.join(dir, 'photo.jpg')}`);
    expect(sha256(await readFile(path.join(dir, 'Scan.pdf')))).toBe(sha256(pdf));
    expect(sha256(await readFile(path.join(dir, 'photo.jpg')))).toBe(sha256(jpeg));
    expect(await tree(root)).toEqual([
      'MFP-3rd-floor/',
      'MFP-3rd-floor/2021-02-17/',
      'MFP-3rd-floor/2021-02-17/Scan.pdf',
      'MFP-3rd-floor/2021-02-17/photo.jpg',
    ]);
  });

  it('renders a fileName template with %fileName%, %fileExtension%, %fileIndex% and job fields', async () => {
    const o = options({ basePath: root, fileName: '%deviceName% %fileName%-%fileIndex%%fileExtension%' });
    await deliver(job([file('a.pdf', pdf), file('b', jpeg, 'image/jpeg')]), o);
    expect(await tree(root)).toEqual(['MFP-3rd-floor a-1.pdf', 'MFP-3rd-floor b-2.jpg']);
  });

  it('puts a %userHome% path under the root as a sub-path', async () => {
    const o = options({ basePath: `${root}/%userHome%/Scans` });
    const r1 = await deliver(job([file('x.pdf', pdf)], { userHome: '/home/alice' }), o);
    expect(r1.remoteId).toBe(path.join(root, 'home', 'alice', 'Scans', 'x.pdf'));
    const r2 = await deliver(job([file('y.pdf', pdf)], { userHome: '\\\\fs01\\home\\bob\\' }), o);
    expect(r2.remoteId).toBe(path.join(root, 'fs01', 'home', 'bob', 'Scans', 'y.pdf'));
  });

  it('fails with MissingVariableError for an empty or missing %userHome%', async () => {
    const o = options({ basePath: `${root}/%userHome%` });
    await expect(deliver(job([file('x.pdf', pdf)], { userHome: '  ' }), o)).rejects.toThrow(MissingVariableError);
    await expect(deliver(job([file('x.pdf', pdf)]), o)).rejects.toThrow(MissingVariableError);
    expect(await tree(root)).toEqual([]);
  });

  it('fails with MissingVariableError for a missing folder variable', async () => {
    const o = options({ basePath: root, folder: '%nope%' });
    await expect(deliver(job([file('x.pdf', pdf)]), o)).rejects.toThrow(MissingVariableError);
  });

  describe('names valid on SMB / Azure Files', () => {
    /**
     * The rules, checked here independently of the connector: Windows' "Naming Files, Paths, and
     * Namespaces" (https://learn.microsoft.com/windows/win32/fileio/naming-a-file) and Azure Files'
     * "Naming and referencing shares, directories, files, and metadata"
     * (https://learn.microsoft.com/rest/api/storageservices/naming-and-referencing-shares--directories--files--and-metadata).
     */
    const smbProblem = (name: string): string | undefined => {
      if (/["\\/:|<>*?\u0000-\u001f]/.test(name)) return 'a forbidden character';
      if (/[. ]$/.test(name)) return 'a trailing dot or space';
      if (/^(CON|PRN|AUX|NUL|COM[0-9¹²³]|LPT[0-9¹²³]|CLOCK\$)\s*(\..*)?$/i.test(name)) return 'a reserved name';
      if (name === '' || Buffer.byteLength(name) > 255) return 'an empty or too long name';
      return undefined;
    };
    const hostile = [
      'a:b',
      'q?"*<>|',
      'x|y',
      'trailing.',
      'trailing ',
      'dots...',
      'both . .',
      'CON',
      'con',
      'Con.txt',
      'PRN.pdf',
      'aux',
      'NUL.tar.gz',
      'NUL .pdf',
      'COM1',
      'com9.log',
      'LPT1',
      'lpt9.pdf',
      'COM0',
      'LPT¹',
      'CLOCK$',
      'AUX ',
      ' prn',
      'back\\slash',
      'ctl\u0001\u001fchars',
      `:${'é'.repeat(130)}`,
    ];

    it.each(hostile)('a folder value and a file name %j become valid names', async (value) => {
      const o = options({ basePath: root, folder: '%deviceName%/%scanDate%', fileName: '%fileName%%fileExtension%' });
      const result = await deliver(job([file(value, pdf), file(`${value}.pdf`, jpeg)], { deviceName: value, scanDate: `${value}.` }), o);
      const paths = result.remoteId!.split('; ');
      expect(paths).toHaveLength(2);
      for (const p of paths) {
        const segments = path.relative(root, p).split(path.sep);
        expect(segments).toHaveLength(3);
        for (const s of segments) expect([s, smbProblem(s)]).toEqual([s, undefined]);
      }
      for (const entry of await tree(root))
        for (const s of entry.replace(/\/$/, '').split('/')) expect([s, smbProblem(s)]).toEqual([s, undefined]);
    });

    it('replaces forbidden characters with _, drops trailing dots and spaces, and marks reserved names with _', async () => {
      const o = options({ basePath: root, folder: '%deviceName%', fileName: '%docName%%fileExtension%' });
      const cases: Array<[device: string, doc: string, expected: string]> = [
        ['Floor 3: East', 'Invoice 2024/01?', 'Floor 3_ East/Invoice 2024_01_.pdf'],
        ['CON', 'con', 'CON_/con_.pdf'],
        ['nul.', 'LPT1.draft', 'nul_/LPT1_.draft.pdf'],
        ['MFP.. ', 'a "quoted" <name>', 'MFP/a _quoted_ _name_.pdf'],
      ];
      for (const [device, doc, expected] of cases) {
        const r = await deliver(job([file('scan.pdf', pdf)], { deviceName: device, docName: doc }), o);
        expect(path.relative(root, r.remoteId!).split(path.sep).join('/')).toBe(expected);
      }
    });

    it('makes each part of %userHome% valid', async () => {
      const o = options({ basePath: `${root}/%userHome%` });
      const r = await deliver(job([file('x.pdf', pdf)], { userHome: '\\\\fs01\\home\\CON\\a:b\\dir.' }), o);
      expect(path.relative(root, r.remoteId!).split(path.sep)).toEqual(['fs01', 'home', 'CON_', 'a_b', 'dir', 'x.pdf']);
    });

    it('keeps two files whose names become the same apart', async () => {
      const o = options({ basePath: root, conflictBehavior: 'fail' });
      const r = await deliver(job([file('a:b.pdf', pdf), file('a_b.pdf', jpeg), file('A?b.pdf', pdf)]), o);
      expect(r.remoteId!.split('; ').map((p) => path.basename(p))).toEqual(['a_b.pdf', 'a_b (2).pdf', 'A_b (3).pdf']);
    });

    it.each([
      ['"folder"', { basePath: '/mounts/scans', folder: 'Scans: 2024' }, /"folder" must not contain " \* : < > \? \|/],
      ['"folder"', { basePath: '/mounts/scans', folder: 'Scans/%deviceName%?' }, /"folder" must not contain/],
      ['"folder"', { basePath: '/mounts/scans', folder: 'Archive/CON' }, /"folder": "CON" is a reserved name/],
      ['"folder"', { basePath: '/mounts/scans', folder: 'lpt1.old' }, /"folder": "lpt1\.old" is a reserved name/],
      ['"folder"', { basePath: '/mounts/scans', folder: 'Scans.' }, /"folder": "Scans\." must not end with a dot or a space/],
      ['"folder"', { basePath: '/mounts/scans', folder: '%deviceName% ' }, /"folder": "%deviceName% " must not end with a dot or a space/],
      ['"basePath"', { basePath: '/mounts/scans/%userHome%/Scans|old' }, /"basePath" must not contain/],
      ['"basePath"', { basePath: '/mounts/scans/%userHome%/nul' }, /"basePath": "nul" is a reserved name/],
      ['"fileName"', { basePath: '/mounts/scans', fileName: '%deviceName%*.pdf' }, /"fileName" must not contain/],
      ['"fileName"', { basePath: '/mounts/scans', fileName: 'aux.pdf' }, /"fileName": "aux\.pdf" is a reserved name/],
      [
        '"fileName"',
        { basePath: '/mounts/scans', fileName: '%deviceName%.' },
        /"fileName": "%deviceName%\." must not end with a dot or a space/,
      ],
    ])('refuses a %s whose own text SMB does not allow', (_name, raw, message) => {
      expect(() => options(raw)).toThrow(message);
    });

    it('accepts a root that already exists whatever its name, and text SMB allows', () => {
      expect(options({ basePath: '/mnt/c:/scans/%deviceName%' }).root).toBe(path.resolve('/mnt/c:/scans'));
      expect(() =>
        options({ basePath: '/mounts/scans', folder: 'Scans #1 (100%)/%deviceName%.d/CONSOLE', fileName: '.%fileName%%fileExtension%' }),
      ).not.toThrow();
    });
  });

  describe('never writes outside the root', () => {
    const hostile = ['..', '../../etc', 'a/../../b', '\\..\\..', '..\u0000/..', 'x\r\n../..', '...', '....//....', '/etc/passwd'];
    const before = async () => (await readdir(sandbox)).sort();

    it.each(hostile)('in folder variables and file names: %j', async (value) => {
      const listed = await before();
      const o = options({ basePath: `${root}/%deviceName%`, folder: '%scanDate%', fileName: '%fileName%%fileExtension%' });
      const j = job([file(value, pdf), file(`${value}.pdf`, jpeg)], { deviceName: value, scanDate: value });
      const result = await deliver(j, o).catch((err: unknown) => err);
      if (result instanceof Error) expect(result).toBeInstanceOf(PermanentDeliveryError);
      expect((await readdir(sandbox)).sort()).toEqual(listed);
      for (const p of (result as { remoteId?: string }).remoteId?.split('; ') ?? []) {
        expect(path.relative(root, p).startsWith('..')).toBe(false);
      }
    });

    it.each(['/etc', '../..', '/home/../../..', 'a/./b', 'a//b', '\u0000', '..\\..\\x'])('in %%userHome%% = %j', async (userHome) => {
      const listed = await before();
      const o = options({ basePath: `${root}/%userHome%` });
      const result = await deliver(job([file('x.pdf', pdf)], { userHome }), o).catch((err: unknown) => err);
      if (result instanceof Error) {
        expect(result).toBeInstanceOf(PermanentDeliveryError);
      } else {
        expect(path.relative(root, (result as { remoteId: string }).remoteId).startsWith('..')).toBe(false);
      }
      expect((await readdir(sandbox)).sort()).toEqual(listed);
    });

    it('turns /etc into <root>/etc and refuses ../..', async () => {
      const o = options({ basePath: `${root}/%userHome%` });
      expect((await deliver(job([file('x.pdf', pdf)], { userHome: '/etc' }), o)).remoteId).toBe(path.join(root, 'etc', 'x.pdf'));
      await expect(deliver(job([file('x.pdf', pdf)], { userHome: '../..' }), o)).rejects.toThrow(PermanentDeliveryError);
    });
  });

  it('refuses a symlink inside the root that points outside, creating nothing outside', async () => {
    const outside = path.join(sandbox, 'outside');
    await mkdir(outside);
    await symlink(outside, path.join(root, 'link'));
    const o = options({ basePath: root, folder: '%deviceName%/sub' });
    const err = await deliver(job([file('x.pdf', pdf)], { deviceName: 'link' }), o).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentDeliveryError);
    expect((err as Error).message).toMatch(/outside the share root/);
    expect(await readdir(outside)).toEqual([]);
  });

  it('follows a symlink that stays inside the root', async () => {
    await mkdir(path.join(root, 'real'));
    await symlink(path.join(root, 'real'), path.join(root, 'alias'));
    const o = options({ basePath: root, folder: 'alias' });
    await deliver(job([file('x.pdf', pdf)]), o);
    expect(await readdir(path.join(root, 'real'))).toEqual(['x.pdf']);
  });

  it('is transient when the root does not exist (share not mounted) and creates nothing', async () => {
    const o = options({ basePath: path.join(sandbox, 'missing', '%deviceName%') });
    await expect(deliver(job([file('x.pdf', pdf)]), o)).rejects.toThrow(TransientDeliveryError);
    expect(await readdir(sandbox)).toEqual(['share']);
  });

  it('with createFolders false, a missing folder is permanent', async () => {
    const o = options({ basePath: root, folder: 'Scans', createFolders: false });
    await expect(deliver(job([file('x.pdf', pdf)]), o)).rejects.toThrow(/does not exist/);
    await mkdir(path.join(root, 'Scans'));
    await deliver(job([file('x.pdf', pdf)]), o);
    expect(await tree(root)).toEqual(['Scans/', 'Scans/x.pdf']);
  });

  describe('conflicts', () => {
    const original = Buffer.from('original');

    it('fail: PermanentDeliveryError and the existing file unchanged', async () => {
      await writeFile(path.join(root, 'name.pdf'), original);
      const o = options({ basePath: root, conflictBehavior: 'fail' });
      const err = await deliver(job([file('name.pdf', pdf)]), o).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentDeliveryError);
      expect((err as Error).message).toMatch(/already exists/);
      expect(await readFile(path.join(root, 'name.pdf'))).toEqual(original);
      expect(await tree(root)).toEqual(['name.pdf']);
    });

    it('replace: the new content, no temp file left', async () => {
      await writeFile(path.join(root, 'name.pdf'), original);
      const o = options({ basePath: root, conflictBehavior: 'replace' });
      expect((await deliver(job([file('name.pdf', pdf)]), o)).remoteId).toBe(path.join(root, 'name.pdf'));
      expect(sha256(await readFile(path.join(root, 'name.pdf')))).toBe(sha256(pdf));
      expect(await tree(root)).toEqual(['name.pdf']);
    });

    it('keepBoth: name 1.pdf, then name 2.pdf', async () => {
      await writeFile(path.join(root, 'name.pdf'), original);
      const o = options({ basePath: root });
      expect((await deliver(job([file('name.pdf', pdf)]), o)).remoteId).toBe(path.join(root, 'name 1.pdf'));
      expect((await deliver(job([file('name.pdf', jpeg)]), o)).remoteId).toBe(path.join(root, 'name 2.pdf'));
      expect(await tree(root)).toEqual(['name 1.pdf', 'name 2.pdf', 'name.pdf']);
      expect(await readFile(path.join(root, 'name.pdf'))).toEqual(original);
      expect(sha256(await readFile(path.join(root, 'name 1.pdf')))).toBe(sha256(pdf));
      expect(sha256(await readFile(path.join(root, 'name 2.pdf')))).toBe(sha256(jpeg));
    });

    it('keepBoth: concurrent deliveries of the same name produce distinct files', async () => {
      const o = options({ basePath: root });
      const results = await Promise.all(Array.from({ length: 6 }, () => deliver(job([file('same.pdf', pdf)]), o)));
      const paths = results.map((r) => r.remoteId);
      expect(new Set(paths).size).toBe(6);
      expect(await tree(root)).toEqual(['same 1.pdf', 'same 2.pdf', 'same 3.pdf', 'same 4.pdf', 'same 5.pdf', 'same.pdf']);
      for (const p of paths) expect(sha256(await readFile(p!))).toBe(sha256(pdf));
    });
  });

  it('a source stream failing midway leaves no partial file and is transient', async () => {
    const failing: DeliveryFile = {
      ...file('broken.pdf', pdf),
      open: async () =>
        Readable.from(
          (async function* () {
            yield pdf.subarray(0, 65536);
            await new Promise((r) => setTimeout(r, 10));
            throw new Error('storage read reset');
          })(),
        ),
    };
    const o = options({ basePath: root, folder: 'Scans' });
    const err = await deliver(job([file('first.pdf', jpeg), failing]), o).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientDeliveryError);
    expect((err as Error).message).toMatch(/storage read reset/);
    // Nothing delivered, not even the first (staged) file; no .partial left.
    expect(await tree(root)).toEqual(['Scans/']);
    // The retry delivers everything once.
    await deliver(job([file('first.pdf', jpeg), file('broken.pdf', pdf)]), o);
    expect(await tree(root)).toEqual(['Scans/', 'Scans/broken.pdf', 'Scans/first.pdf']);
  });

  it('gives the files of a multi-file job distinct names', async () => {
    const o = options({ basePath: root });
    const r = await deliver(job([file('scan.pdf', pdf), file('scan.pdf', jpeg), file('SCAN.pdf', pdf)]), o);
    expect(r.remoteId!.split('; ').map((p) => path.basename(p))).toEqual(['scan.pdf', 'scan (2).pdf', 'SCAN (3).pdf']);
    const fixed = options({ basePath: root, folder: 'fixed', fileName: '%deviceName%.pdf' });
    const r2 = await deliver(job([file('a.pdf', pdf), file('b.pdf', jpeg), file('c.pdf', pdf)]), fixed);
    expect(r2.remoteId!.split('; ').map((p) => path.basename(p))).toEqual([
      'MFP-3rd-floor.pdf',
      'MFP-3rd-floor (2).pdf',
      'MFP-3rd-floor (3).pdf',
    ]);
    expect(sha256(await readFile(path.join(root, 'fixed', 'MFP-3rd-floor (2).pdf')))).toBe(sha256(jpeg));
  });

  it('keeps names within 255 bytes, keeping the extension', async () => {
    const o = options({ basePath: root });
    const long = `${'ž'.repeat(300)}.pdf`;
    const r = await deliver(job([file(long, pdf), file(long, pdf)]), o);
    const names = r.remoteId!.split('; ').map((p) => path.basename(p));
    for (const n of names) {
      expect(Buffer.byteLength(n)).toBeLessThanOrEqual(255);
      expect(n.endsWith('.pdf')).toBe(true);
    }
    expect(names[1]!.endsWith(' (2).pdf')).toBe(true);
  });

  it('refuses a root or folder that is a file', async () => {
    await writeFile(path.join(root, 'afile'), 'x');
    await expect(deliver(job([file('x.pdf', pdf)]), options({ basePath: path.join(root, 'afile') }))).rejects.toThrow(
      PermanentDeliveryError,
    );
    await expect(deliver(job([file('x.pdf', pdf)]), options({ basePath: root, folder: 'afile/sub' }))).rejects.toThrow(/not a folder/);
    expect(await tree(root)).toEqual(['afile']);
  });

  it.each([
    ['ENOSPC', TransientDeliveryError],
    ['EIO', TransientDeliveryError],
    ['EAGAIN', TransientDeliveryError],
    ['EBUSY', TransientDeliveryError],
    ['ETIMEDOUT', TransientDeliveryError],
    ['ECONNRESET', TransientDeliveryError],
    ['EACCES', PermanentDeliveryError],
    ['EPERM', PermanentDeliveryError],
    ['ENOTDIR', PermanentDeliveryError],
    ['EROFS', PermanentDeliveryError],
    ['ENAMETOOLONG', PermanentDeliveryError],
  ])('classifies %s', (code, kind) => {
    const err = Object.assign(new Error(`${code}: something, open '/x'`), { code, syscall: 'open' });
    const mapped = classify(err, '/mounts/scans/x.pdf');
    expect(mapped).toBeInstanceOf(kind);
    expect(mapped.message).toContain(`(${code})`);
    expect(mapped.message).toContain('/mounts/scans/x.pdf');
    expect(classify(new Error('socket hang up'), '/x')).toBeInstanceOf(TransientDeliveryError);
  });

  it('maps a permission error to a permanent error with a clear reason', async () => {
    if (process.getuid?.() === 0) return; // root ignores permissions
    const { chmod } = await import('node:fs/promises');
    await mkdir(path.join(root, 'locked'));
    await chmod(path.join(root, 'locked'), 0o500);
    try {
      const o = options({ basePath: root, folder: 'locked' });
      const err = await deliver(job([file('x.pdf', pdf)]), o).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentDeliveryError);
      expect((err as Error).message).toMatch(/permission denied \(EACCES\)/);
      expect((err as Error).message).not.toMatch(/\n\s+at /);
    } finally {
      await chmod(path.join(root, 'locked'), 0o700);
    }
  });
});
