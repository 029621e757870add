/**
 * Pulls a durable consumer's messages into one long-lived subscription: each pull is a single
 * request to `$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>` answered on the same inbox. The
 * library's `fetch` makes (and removes) a subscription per pull — two more protocol writes and a
 * message iterator per job, a measurable part of a worker's CPU when jobs take milliseconds.
 *
 * One pull is outstanding at a time, for as many messages as the caller can run now. It ends
 * when they have all come, when the server says it expired or cannot be served (408, 409, 503
 * when JetStream does not answer), after two of its idle heartbeats missed (a pull lost in a
 * reconnect), or on `interrupt`.
 */
import { createRequire } from 'node:module';
import type { JsMsg } from '@nats-io/jetstream';
import { createInbox, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

// The library turns a delivered message into a `JsMsg` with `toJsMsg`, which its entry points
// do not export; it is taken from the module that defines it.
const toJsMsg = (
  createRequire(createRequire(import.meta.url).resolve('@nats-io/jetstream'))('./jsmsg.js') as {
    toJsMsg: (m: Msg, ackTimeout?: number) => JsMsg;
  }
).toJsMsg;

/** A waiting pull's idle heartbeat: a status message without a body. */
const HEARTBEAT = 100;
/** The longest the server stays silent on a waiting pull: it sends a heartbeat (100) after that. */
const MAX_HEARTBEAT_MS = 5000;

interface Outstanding {
  left: number;
  timer: NodeJS.Timeout;
  end: (reason: PullEnd) => void;
}

/** Why a pull ended: every message came, or the server's status code, or `lost` / `interrupted`. */
export type PullEnd = 'filled' | 'lost' | 'interrupted' | number;

export class PullSource {
  private readonly sub: Subscription;
  private readonly inbox: string;
  private readonly subject: string;
  private current: Outstanding | undefined;

  constructor(
    private readonly nc: NatsConnection,
    stream: string,
    consumer: string,
    /** Receives every message delivered, in order, as soon as it comes. */
    private readonly deliver: (m: JsMsg) => void,
    private readonly ackTimeoutMs = 5000,
  ) {
    this.inbox = createInbox();
    this.subject = `$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`;
    this.sub = nc.subscribe(this.inbox, { callback: (error, msg) => this.receive(error, msg) });
  }

  /** Asks for up to `batch` messages; resolves when the pull ends, with why. */
  pull(batch: number, expiresMs: number): Promise<PullEnd> {
    this.end('interrupted');
    const heartbeatMs = Math.min(MAX_HEARTBEAT_MS, Math.max(500, Math.floor(expiresMs / 4)));
    return new Promise((resolve) => {
      // Two heartbeats missed: the pull was lost (a reconnect, a server that restarted).
      const pull: Outstanding = {
        left: batch,
        timer: setTimeout(() => this.end('lost'), 2 * heartbeatMs + 1000),
        end: resolve,
      };
      this.current = pull;
      const request = { batch, expires: expiresMs * 1_000_000, idle_heartbeat: heartbeatMs * 1_000_000 };
      this.nc.publish(this.subject, JSON.stringify(request), { reply: this.inbox });
    });
  }

  /** Ends the outstanding pull (after a reconnect, or to stop); what it still brings is delivered. */
  interrupt(): void {
    this.end('interrupted');
  }

  close(): void {
    this.interrupt();
    this.sub.unsubscribe();
  }

  private end(reason: PullEnd): void {
    const pull = this.current;
    if (!pull) return;
    this.current = undefined;
    clearTimeout(pull.timer);
    pull.end(reason);
  }

  private receive(error: Error | null, msg: Msg): void {
    if (error) {
      this.end('lost');
      return;
    }
    const code = msg.reply ? 0 : (msg.headers?.code ?? 0);
    if (code !== 0) {
      if (code === HEARTBEAT) this.current?.timer.refresh();
      else this.end(code);
      return;
    }
    this.deliver(toJsMsg(msg, this.ackTimeoutMs));
    const pull = this.current;
    if (pull && --pull.left <= 0) this.end('filled');
  }
}
