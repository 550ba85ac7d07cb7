// Lets a child process run the app from its TypeScript sources (`node -r test/helpers/tsRegister.js
// host/local/main.ts`), as the crash tests do: each .ts file is transpiled on require, without type
// checking (npm test type-checks everything first).
const { readFileSync } = require('node:fs');
const ts = require('typescript');

const compilerOptions = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true, resolveJsonModule: true };
require.extensions['.ts'] = (module, filename) => {
  const { outputText } = ts.transpileModule(readFileSync(filename, 'utf8'), { compilerOptions, fileName: filename });
  module._compile(outputText, filename);
};
