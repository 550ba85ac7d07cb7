/**
 * Entry point for the Azure Functions host (package.json `main`): registers every function of
 * the registry with the v4 programming model, with HTTP streaming on so scans are never
 * buffered whole.
 */
import { app } from '@azure/functions';
import { registry } from './registry';

app.setup({ enableHttpStream: true });

for (const fn of registry) {
  switch (fn.kind) {
    case 'http':
      app.http(fn.name, { route: fn.route, methods: fn.methods, authLevel: fn.authLevel, handler: fn.handler });
      break;
    case 'timer':
      app.timer(fn.name, { schedule: fn.schedule, handler: fn.handler });
      break;
    case 'queue':
      app.storageQueue(fn.name, { queueName: fn.queueName, connection: 'AzureWebJobsStorage', handler: fn.handler });
      break;
  }
}
