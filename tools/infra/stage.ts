/**
 * Stages the deployment package: what the Functions host runs and nothing else. `npm run deploy`
 * publishes it with Core Tools, and azd packages it (azure.yaml `dist`), so both upload the same
 * files: the compiled app (dist/host, dist/functions, dist/shared), host.json, package.json without
 * scripts, the lock file, production dependencies only (npm ci --omit=dev), and the destinations
 * file when there is one. Built locally, so no remote build is needed.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PACKAGE_DIR = join('dist', 'package');
/** The compiled folders the host needs (package.json main is dist/host/azure.js). */
const COMPILED = ['host', 'functions', 'shared'];
const FILES = ['host.json', 'package-lock.json'];
const OPTIONAL_FILES = ['destinations.json'];

export interface StageOptions {
  /** Run npm ci --omit=dev in the package (tests skip it). */
  install: boolean;
  log?: (line: string) => void;
}

export function stagePackage(root: string, options: StageOptions): string {
  const log = options.log ?? (() => undefined);
  const target = join(root, PACKAGE_DIR);
  rmSync(target, { recursive: true, force: true });
  mkdirSync(join(target, 'dist'), { recursive: true });
  for (const dir of COMPILED) {
    const from = join(root, 'dist', dir);
    if (!existsSync(from)) throw new Error(`${from} is missing: run npm run build first.`);
    cpSync(from, join(target, 'dist', dir), { recursive: true, filter: (src) => !src.endsWith('.map') });
  }
  for (const file of FILES) cpSync(join(root, file), join(target, file));
  for (const file of OPTIONAL_FILES) if (existsSync(join(root, file))) cpSync(join(root, file), join(target, file));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  // No scripts: nothing may build or run at install time in the package (or remotely).
  delete pkg.scripts;
  writeFileSync(join(target, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  if (options.install) {
    log(`npm ci --omit=dev in ${target}`);
    execFileSync('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: target, stdio: 'inherit' });
  }
  log(`staged ${target}`);
  return target;
}

if (require.main === module) {
  stagePackage(join(__dirname, '..', '..', '..'), { install: true, log: console.log });
}
