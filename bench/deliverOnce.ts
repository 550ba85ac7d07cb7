/**
 * Bench child: delivers one stored job (argv[2]) the way the queue-triggered function does
 * (deliverJob with the app's services, configured from the environment), sampling its own RSS
 * every 10 ms. Reports { type: 'done', startRss, peakRss, ms, outcome } over IPC.
 */
import { deliverJob } from '../shared/delivery';
import { silentLogger } from '../shared/log';
import { getServices } from '../shared/services';

async function main(): Promise<void> {
  const jobId = process.argv[2]!;
  const services = getServices();
  const deps = services.delivererDeps(silentLogger);
  // Warm up: storage clients, the destinations file, the app token; then measure from a collected heap.
  await services.storage.scanJobs.get(jobId);
  await deps.context.getApplicationToken(new URL(deps.context.graphBaseUrl).origin);
  (globalThis as { gc?: () => void }).gc?.();
  const startRss = process.memoryUsage.rss();
  let peakRss = startRss;
  const timer = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage.rss())), 10);
  const started = process.hrtime.bigint();
  const outcome = await deliverJob({ jobId }, 1, deps);
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  clearInterval(timer);
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  process.send!({ type: 'done', startRss, peakRss, ms, outcome }, () => process.exit(0));
}

main().catch((err: Error) => {
  process.send!({ type: 'error', message: err.message }, () => process.exit(1));
});
