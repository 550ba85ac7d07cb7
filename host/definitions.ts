/**
 * What a function is, independent of who hosts it. `functions/*.ts` export these; the Azure
 * Functions host registers them with `app` (host/azure.ts) and the local host serves them
 * (host/local). Both read the one list in host/registry.ts.
 */
import type { HttpHandler, HttpMethod, InvocationContext, Timer } from '@azure/functions';

export interface HttpFunction {
  kind: 'http';
  name: string;
  /** Route under /api, with `{param}` segments. */
  route: string;
  methods: HttpMethod[];
  /** `function`/`admin` need a key in Azure; the local host asks for `admin-key` on `admin`. */
  authLevel: 'anonymous' | 'function' | 'admin';
  handler: HttpHandler;
}

export interface TimerFunction {
  kind: 'timer';
  name: string;
  /** NCRONTAB with seconds: `sec min hour day month weekday`. */
  schedule: string;
  handler: (timer: Timer, context: InvocationContext) => Promise<void>;
}

export interface QueueFunction {
  kind: 'queue';
  name: string;
  queueName: string;
  handler: (message: unknown, context: InvocationContext) => Promise<void>;
}

export type FunctionDefinition = HttpFunction | TimerFunction | QueueFunction;
