/** Reading what the service published, as a test or the chaos suite sees it. */
import { decodeEvent, type ResultEvent } from '@coderunner/protocol';
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';

/** Every event stored in the results stream, by submission id, read from the start. */
export async function readResults(
  nc: NatsConnection,
  stream = 'RESULTS',
): Promise<Map<string, ResultEvent[]>> {
  const jsm = await jetstreamManager(nc);
  const events = new Map<string, ResultEvent[]>();
  if ((await jsm.streams.info(stream)).state.messages === 0) return events;
  const consumer = await jetstream(nc).consumers.get(stream, { deliver_policy: DeliverPolicy.All });
  const messages = await consumer.consume();
  for await (const m of messages) {
    const event = decodeEvent(m.data);
    events.set(event.submissionId, [...(events.get(event.submissionId) ?? []), event]);
    if (m.info.pending === 0) break;
  }
  messages.stop();
  return events;
}
