export { startNatsServer } from './nats-server.js';
export type { NatsServer, NatsServerOptions } from './nats-server.js';
export { startNatsCluster } from './nats-cluster.js';
export type { ClusterServer, NatsCluster, NatsClusterOptions } from './nats-cluster.js';
export { readResults } from './results.js';
