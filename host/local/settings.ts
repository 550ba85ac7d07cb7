import { existsSync, readFileSync } from 'node:fs';

/**
 * Loads `Values` from local.settings.json into the environment, as Core Tools does; a variable
 * already set in the environment wins. Returns the file's path, or undefined when it is absent.
 */
export function loadLocalSettings(file = 'local.settings.json', env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (!existsSync(file)) return undefined;
  let values: unknown;
  try {
    values = (JSON.parse(readFileSync(file, 'utf8')) as { Values?: unknown }).Values;
  } catch {
    throw new Error(`${file} is not valid JSON.`);
  }
  if (values && typeof values === 'object') {
    for (const [k, v] of Object.entries(values)) {
      if (env[k] === undefined && v !== null && v !== undefined) env[k] = String(v);
    }
  }
  return file;
}
