/** host/azure.ts (package.json main) registers exactly the registry, with HTTP streaming on. */
const calls: Array<[string, string, Record<string, unknown>]> = [];
let setupOptions: unknown;

jest.mock('@azure/functions', () => {
  const actual = jest.requireActual('@azure/functions');
  const record = (kind: string) => (name: string, options: Record<string, unknown>) => calls.push([kind, name, options]);
  return {
    ...actual,
    app: {
      setup: (o: unknown) => (setupOptions = o),
      http: record('http'),
      timer: record('timer'),
      storageQueue: record('queue'),
    },
  };
});

import { registry } from '../../host/registry';

describe('the Azure Functions entry point', () => {
  beforeAll(() => {
    // Registers every function with the real `app` as the worker loads package.json's main.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('../../host/azure');
  });

  it('turns on HTTP streaming', () => {
    expect(setupOptions).toEqual({ enableHttpStream: true });
  });

  it('registers every function of the registry once, with its trigger settings', () => {
    expect(calls.map(([kind, name]) => `${kind}:${name}`)).toEqual(registry.map((fn) => `${fn.kind}:${fn.name}`));
    for (const [kind, name, options] of calls) {
      const fn = registry.find((f) => f.name === name)!;
      if (kind === 'http' && fn.kind === 'http') {
        expect(options).toMatchObject({ route: fn.route, methods: fn.methods, authLevel: fn.authLevel, handler: fn.handler });
      }
    }
  });

  it('protects the scan endpoint with a function key and leaves health anonymous', () => {
    const level = (n: string) => calls.find(([, name]) => name === n)?.[2].authLevel;
    expect(level('scan')).toBe('function');
    expect(level('health')).toBe('anonymous');
  });
});
