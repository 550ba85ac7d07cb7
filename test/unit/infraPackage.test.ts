/** The deployment package both `npm run deploy` and azd upload (tools/infra/stage.ts). */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_DIR, stagePackage } from '../../tools/infra/stage';

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'stage-'));
  for (const dir of ['host', 'functions', 'shared', 'tools', 'test', 'bench']) {
    mkdirSync(join(root, 'dist', dir), { recursive: true });
    writeFileSync(join(root, 'dist', dir, 'index.js'), `// ${dir}\n`);
    writeFileSync(join(root, 'dist', dir, 'index.js.map'), '{}');
  }
  writeFileSync(join(root, 'host.json'), '{"version":"2.0"}');
  writeFileSync(join(root, 'package-lock.json'), '{}');
  writeFileSync(
    join(root, 'package.json'),
    JSON.stringify({
      name: 'scanrelay',
      main: 'dist/host/azure.js',
      scripts: { build: 'tsc' },
      dependencies: { zod: '^4' },
      devDependencies: { jest: '^29' },
    }),
  );
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

it('holds the compiled app, host.json and package.json without scripts, and nothing else', () => {
  const target = stagePackage(root, { install: false });
  expect(target).toBe(join(root, PACKAGE_DIR));
  for (const dir of ['host', 'functions', 'shared']) expect(existsSync(join(target, 'dist', dir, 'index.js'))).toBe(true);
  for (const dir of ['tools', 'test', 'bench']) expect(existsSync(join(target, 'dist', dir))).toBe(false);
  expect(existsSync(join(target, 'dist', 'host', 'index.js.map'))).toBe(false);
  expect(existsSync(join(target, 'host.json'))).toBe(true);
  expect(existsSync(join(target, 'destinations.json'))).toBe(false);
  const pkg = JSON.parse(readFileSync(join(target, 'package.json'), 'utf8'));
  expect(pkg.scripts).toBeUndefined();
  expect(pkg.main).toBe('dist/host/azure.js');
});

it('includes the destinations file when there is one, and starts from scratch each time', () => {
  writeFileSync(join(root, 'destinations.json'), '{"destinations":[]}');
  const target = stagePackage(root, { install: false });
  writeFileSync(join(target, 'stale.txt'), 'x');
  stagePackage(root, { install: false });
  expect(existsSync(join(target, 'destinations.json'))).toBe(true);
  expect(existsSync(join(target, 'stale.txt'))).toBe(false);
});

it('asks for a build when the compiled app is missing', () => {
  rmSync(join(root, 'dist', 'host'), { recursive: true });
  expect(() => stagePackage(root, { install: false })).toThrow(/npm run build/);
});
