/** The global connection options (`--server`, `--user`, `--password`, `--creds`) and a client. */
import { connect, type ClientOptions, type CoderunnerClient } from '../client.js';

export interface GlobalOptions {
  /** NATS server URL(s), comma-separated. */
  server: string;
  user?: string;
  password?: string;
  /** A .creds file. */
  creds?: string;
}

/** The server used when neither --server nor RUNNER_NATS_URL says otherwise. */
export const DEFAULT_SERVER = 'nats://localhost:4222';

export function clientOptions(options: GlobalOptions): ClientOptions {
  return {
    servers: options.server,
    ...(options.user !== undefined ? { user: options.user, pass: options.password ?? '' } : {}),
    ...(options.creds !== undefined ? { credsFile: options.creds } : {}),
  };
}

/** Connects, runs `work` with the client, and closes the connection whatever happens. */
export async function withClient<T>(
  options: GlobalOptions,
  work: (client: CoderunnerClient) => Promise<T>,
): Promise<T> {
  const client = await connect(clientOptions(options));
  try {
    return await work(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}
