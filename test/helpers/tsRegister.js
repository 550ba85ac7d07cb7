// Lets a child process run the app from its TypeScript sources (`node -r test/helpers/tsRegister.js
// host/local/main.ts`), as the crash tests do: each .ts file is transpiled on require, without type
// checking (npm test type-checks everything first). The output is cached by the source's hash in
// node_modules/.cache, so the tests' many host starts transpile (and load TypeScript) once.
const { createHash } = require('node:crypto');
const { mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const CACHE = join(__dirname, '..', '..', 'node_modules', '.cache', 'scanrelay-ts');
let ts;
const compilerOptions = () => ({
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  resolveJsonModule: true,
});

require.extensions['.ts'] = (module, filename) => {
  const source = readFileSync(filename, 'utf8');
  const key = createHash('sha256').update(filename).update('\0').update(source).digest('hex');
  const cached = join(CACHE, `${key}.js`);
  let outputText;
  try {
    outputText = readFileSync(cached, 'utf8');
  } catch {
    ts ??= require('typescript');
    outputText = ts.transpileModule(source, { compilerOptions: compilerOptions(), fileName: filename }).outputText;
    mkdirSync(CACHE, { recursive: true });
    // Written aside and renamed: two processes starting at once never read half a file.
    const partial = `${cached}.${process.pid}.tmp`;
    writeFileSync(partial, outputText);
    renameSync(partial, cached);
  }
  module._compile(outputText, filename);
};
