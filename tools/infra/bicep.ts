/**
 * The real Bicep compiler, found the way infra/build.sh finds it: the version pinned in
 * infra/tools/bicep.csproj, in the NuGet package folder. When it is not there yet it is restored
 * with `dotnet restore` (the package comes from NuGet), so tests compile the templates on a fresh
 * clone without running build.sh first.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';

// tools/infra → the repository; compiled, dist/tools/infra → one level more.
const up2 = join(__dirname, '..', '..');
export const REPO_ROOT = basename(up2) === 'dist' ? dirname(up2) : up2;
const CSPROJ = join(REPO_ROOT, 'infra', 'tools', 'bicep.csproj');

/** The pinned compiler version, from bicep.csproj. */
export function bicepVersion(): string {
  const m = /Azure\.Bicep\.CommandLine\.linux-x64" Version="\[([^\]]+)\]"/.exec(readFileSync(CSPROJ, 'utf8'));
  if (!m) throw new Error(`${CSPROJ} does not pin Azure.Bicep.CommandLine.linux-x64 to one version ([x.y.z]).`);
  return m[1]!;
}

/** The path of the bicep binary, restoring the NuGet package first when needed. */
export function bicepBinary(env: NodeJS.ProcessEnv = process.env): string {
  const packages = env.NUGET_PACKAGES || join(homedir(), '.nuget', 'packages');
  const binary = join(packages, 'azure.bicep.commandline.linux-x64', bicepVersion(), 'tools', 'bicep');
  if (!existsSync(binary)) {
    try {
      execFileSync('dotnet', ['restore', CSPROJ, '--verbosity', 'quiet'], { stdio: 'pipe', env });
    } catch (err) {
      const e = err as { stderr?: Buffer; message: string };
      throw new Error(
        `Could not restore the Bicep compiler with \`dotnet restore ${CSPROJ}\` ` +
          `(needs the .NET SDK and NuGet): ${e.stderr?.toString() || e.message}`,
        { cause: err },
      );
    }
    if (!existsSync(binary)) throw new Error(`dotnet restore did not produce ${binary}.`);
  }
  chmodSync(binary, 0o755);
  return binary;
}

export interface BicepBuild {
  /** The compiled ARM template. */
  template: any;
  /** Everything the compiler wrote to stderr (diagnostics); empty when clean. */
  diagnostics: string;
}

/** Compiles one .bicep file to ARM JSON in memory; the compiler's diagnostics (linter included) come back too. */
export function buildBicep(file: string): BicepBuild {
  const result = spawnSync(bicepBinary(), ['build', file, '--stdout'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`bicep build ${file} failed:\n${result.stderr}`);
  return { template: JSON.parse(result.stdout), diagnostics: result.stderr.trim() };
}
