import { describe, expect, it } from 'vitest';
import { type Channel, type LiveEvent, type Note, type Ports, SharedLive, type StreamHandlers } from '../../src/lib/liveShare';

/** The server's side: a log of events; each stream gets those after its `last`, then new ones. */
class Server {
  readonly events: LiveEvent[] = [];
  readonly streams: { last: string | null; on: StreamHandlers; closed: boolean }[] = [];

  publish(type = 'row'): void {
    const event = { type, data: `{"n":${this.events.length + 1}}`, id: String(this.events.length + 1) };
    this.events.push(event);
    for (const stream of this.streams) if (!stream.closed) stream.on.event(event);
  }

  /** As `/v1/live`: what came after `last` (none: from now), then the counters with the position. */
  open(last: string | null, on: StreamHandlers): { close(): void } {
    const stream = { last, on, closed: false };
    this.streams.push(stream);
    on.open();
    for (const event of this.events) if (last !== null && Number(event.id) > Number(last)) on.event(event);
    on.event({ type: 'counters', data: '{}', id: String(this.events.length) });
    return { close: () => (stream.closed = true) };
  }

  get open_streams(): number {
    return this.streams.filter((s) => !s.closed).length;
  }
}

/** The browser's parts of one origin: a broadcast bus (to every other tab, later) and one lock. */
class Browser {
  private readonly channels = new Set<Channel>();
  private holder: (() => void) | null = null;
  private readonly queue: { task: () => Promise<void>; signal: AbortSignal; done: (v: unknown) => void }[] = [];
  readonly pending: Promise<void>[] = [];

  constructor(private readonly server: Server) {}

  ports(): Ports {
    return {
      channel: () => {
        const channels = this.channels;
        const pending = this.pending;
        const channel: Channel = {
          onmessage: null,
          postMessage(note: Note) {
            for (const other of channels) {
              if (other === channel) continue;
              // Delivered later, as a task, like a BroadcastChannel's message (a lock is granted
              // sooner: a message the last leader sent before it went may arrive after the takeover).
              const copy = structuredClone(note);
              pending.push(new Promise((ok) => setTimeout(() => ok(other.onmessage?.({ data: copy })), 0)));
            }
          },
          close: () => channels.delete(channel),
        };
        channels.add(channel);
        return channel;
      },
      lock: (task, signal) =>
        new Promise((done) => {
          this.queue.push({ task, signal, done });
          signal.addEventListener('abort', () => {
            const at = this.queue.findIndex((q) => q.task === task);
            if (at >= 0) this.queue.splice(at, 1);
          });
          this.grant();
        }),
      open: (last, on) => this.server.open(last, on),
    };
  }

  private grant(): void {
    if (this.holder) return;
    const next = this.queue.shift();
    if (!next) return;
    let released = false;
    this.holder = () => {
      if (released) return;
      released = true;
      this.holder = null;
      this.grant();
    };
    const release = this.holder;
    void next.task().then(() => {
      next.done(undefined);
      release();
    });
  }

  /** Lets every message in flight arrive (and what they cause). */
  async settle(): Promise<void> {
    while (this.pending.length > 0) await this.pending.shift();
    await new Promise((ok) => setTimeout(ok, 0));
  }
}

function tab(browser: Browser) {
  const applied: { type: string; id: string; relayed: boolean }[] = [];
  const state = { offline: false, refused: 0 };
  const live = new SharedLive(browser.ports(), {
    event: (event, relayed) => applied.push({ type: event.type, id: event.id, relayed }),
    offline: (value) => (state.offline = value),
    refused: () => (state.refused += 1),
  });
  live.start();
  return { live, applied, state, ids: () => applied.filter((a) => a.type === 'row').map((a) => a.id) };
}

describe('one live stream for the tabs of a person', () => {
  it('opens one stream, and every tab applies each event once, in order', async () => {
    const server = new Server();
    const browser = new Browser(server);
    const first = tab(browser);
    const second = tab(browser);
    const third = tab(browser);
    await browser.settle();
    expect(server.open_streams).toBe(1);
    expect([first, second, third].filter((t) => t.live.isLeader)).toHaveLength(1);
    for (let i = 0; i < 5; i += 1) server.publish();
    await browser.settle();
    for (const t of [first, second, third]) expect(t.ids()).toEqual(['1', '2', '3', '4', '5']);
    // Only the leader's events are its own (it notifies); the others' were passed on.
    expect(first.applied.every((a) => !a.relayed)).toBe(true);
    expect(second.applied.every((a) => a.relayed)).toBe(true);
  });

  it('hands the stream over when the leader goes, resuming after the last event applied', async () => {
    const server = new Server();
    const browser = new Browser(server);
    const leader = tab(browser);
    const follower = tab(browser);
    await browser.settle();
    server.publish();
    server.publish();
    await browser.settle();
    leader.live.stop();
    // Published while no tab held the stream.
    server.publish();
    await browser.settle();
    expect(follower.live.isLeader).toBe(true);
    expect(server.open_streams).toBe(1);
    expect(server.streams[1]?.last).toBe('2');
    server.publish();
    await browser.settle();
    expect(follower.ids()).toEqual(['1', '2', '3', '4']);
  });

  it('applies nothing twice when the old leader\'s last message arrives after the takeover', async () => {
    const server = new Server();
    const browser = new Browser(server);
    const leader = tab(browser);
    const follower = tab(browser);
    await browser.settle();
    server.publish();
    // The leader passes event 1 on, then goes before the follower has read it: the follower
    // leads first, and resumes after the position the leader told it when it joined.
    leader.live.stop();
    await browser.settle();
    expect(follower.live.isLeader).toBe(true);
    expect(server.streams[1]?.last).toBe('0');
    expect(follower.ids()).toEqual(['1']);
    server.publish();
    await browser.settle();
    expect(follower.ids()).toEqual(['1', '2']);
  });

  it('a tab that joins learns where the stream is and whether it is offline', async () => {
    const server = new Server();
    const browser = new Browser(server);
    const leader = tab(browser);
    server.publish();
    server.streams[0]?.on.error(false);
    await browser.settle();
    const late = tab(browser);
    await browser.settle();
    expect(late.state.offline).toBe(true);
    expect(late.live.lastEventId).toBe('1');
    leader.live.stop();
    server.publish();
    await browser.settle();
    // It took over after event 1, which it never applied itself, and missed nothing after.
    expect(server.streams[1]?.last).toBe('1');
    expect(late.ids()).toEqual(['2']);
  });

  it('tells every tab when the stream is refused, and the leader finds out why', async () => {
    const server = new Server();
    const browser = new Browser(server);
    const leader = tab(browser);
    const follower = tab(browser);
    await browser.settle();
    server.streams[0]?.on.error(true);
    await browser.settle();
    expect(leader.state).toEqual({ offline: true, refused: 1 });
    expect(follower.state).toEqual({ offline: true, refused: 0 });
  });

  it('a stopped tab waiting for the lock never opens a stream', async () => {
    const server = new Server();
    const browser = new Browser(server);
    const leader = tab(browser);
    const waiting = tab(browser);
    waiting.live.stop();
    leader.live.stop();
    await browser.settle();
    expect(server.streams).toHaveLength(1);
    expect(waiting.live.isLeader).toBe(false);
  });
});
