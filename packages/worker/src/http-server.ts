/** `/healthz` (connected to NATS), `/readyz` (consuming, sandbox usable) and `/metrics`. */
import { createServer, type Server } from 'node:http';
import type { WorkerMetrics } from './metrics.js';

export interface HealthSource {
  healthy(): boolean;
  ready(): boolean;
}

export async function startHttpServer(
  host: string,
  port: number,
  health: HealthSource,
  metrics: WorkerMetrics,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const status = (ok: boolean): void => {
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'unavailable\n');
    };
    if (path === '/healthz') status(health.healthy());
    else if (path === '/readyz') status(health.ready());
    else if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    } else res.writeHead(404).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
