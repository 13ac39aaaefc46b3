// One live stream shared by a person's tabs (issue 18 item 6: a browser opens at most 6 HTTP/1.1
// connections per site, and a stream per tab held one each). The tab holding a Web Lock named
// for the person leads: it alone opens `/v1/live`, applies each event and passes it on over a
// BroadcastChannel of the same name; the other tabs apply what it passes on. When the leader goes
// (its lock is released with the tab), the next tab waiting for the lock takes over and opens the
// stream after the last event id it applied, so that nothing is lost or applied twice.
//
// The browser's parts come in as `Ports`, so that the unit tests drive the logic with their own.

/** An event of `/v1/live` as the stream gave it. */
export interface LiveEvent {
  type: string;
  data: string;
  /** The event's id (a log sequence); `''` when it had none. */
  id: string;
}

/** What tabs say to each other. */
export type Note =
  | { kind: 'event'; event: LiveEvent }
  | { kind: 'state'; offline: boolean; last: string | null }
  | { kind: 'hello' };

export interface Channel {
  postMessage(note: Note): void;
  onmessage: ((message: { data: Note }) => void) | null;
  close(): void;
}

export interface StreamHandlers {
  event(event: LiveEvent): void;
  open(): void;
  /** `closed`: the stream will not reconnect by itself (refused, e.g. the session ended). */
  error(closed: boolean): void;
}

export interface Ports {
  /** The tabs' channel (a BroadcastChannel). */
  channel(): Channel;
  /**
   * Calls `task` once this tab holds the lock, and holds it until the task's promise settles;
   * `signal` withdraws a request still waiting (navigator.locks.request).
   */
  lock(task: () => Promise<void>, signal: AbortSignal): Promise<unknown>;
  /** Opens the stream after event `last` (`null`: from now). */
  open(last: string | null, on: StreamHandlers): { close(): void };
}

/** Where the events go in this tab. */
export interface Sink {
  /** `relayed`: another tab received it (and did what only one tab should, e.g. notify). */
  event(event: LiveEvent, relayed: boolean): void;
  offline(value: boolean): void;
  /** The leader's stream was refused: find out whether the session still holds. */
  refused(): void;
}

export class SharedLive {
  private channel: Channel | null = null;
  private source: { close(): void } | null = null;
  private last: string | null = null;
  private leading = false;
  private offline = false;
  private release: (() => void) | null = null;
  private readonly abort = new AbortController();

  constructor(
    private readonly ports: Ports,
    private readonly sink: Sink,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  /** The id after which a stream opened by this tab would go on. */
  get lastEventId(): string | null {
    return this.last;
  }

  start(): void {
    const channel = this.ports.channel();
    this.channel = channel;
    channel.onmessage = (message) => this.heard(message.data);
    // A leader answers with its state: whether it is offline, and where the stream is.
    channel.postMessage({ kind: 'hello' });
    this.ports.lock(() => this.lead(), this.abort.signal).catch(() => {
      // Withdrawn by `stop`.
    });
  }

  stop(): void {
    this.abort.abort();
    this.source?.close();
    this.source = null;
    this.leading = false;
    this.release?.();
    this.release = null;
    if (this.channel) this.channel.onmessage = null;
    this.channel?.close();
    this.channel = null;
  }

  private heard(note: Note): void {
    if (note.kind === 'hello') {
      if (this.leading) this.post({ kind: 'state', offline: this.offline, last: this.last });
      return;
    }
    // Only a leader speaks, and once this tab leads, what the one before said late is covered:
    // this tab's stream went on after the last event it applied.
    if (this.leading) return;
    if (note.kind === 'state') {
      if (this.last === null) this.last = note.last;
      this.setOffline(note.offline, false);
      return;
    }
    if (note.event.id) this.last = note.event.id;
    this.sink.event(note.event, true);
  }

  private lead(): Promise<void> {
    // Stopped while the lock was on its way.
    if (this.channel === null) return Promise.resolve();
    this.leading = true;
    this.source = this.ports.open(this.last, {
      event: (event) => {
        if (event.id) this.last = event.id;
        this.sink.event(event, false);
        this.post({ kind: 'event', event });
      },
      open: () => this.setOffline(false, true),
      error: (closed) => {
        this.setOffline(true, true);
        if (closed) {
          this.source = null;
          this.sink.refused();
        }
      },
    });
    return new Promise((resolve) => {
      this.release = resolve;
    });
  }

  private setOffline(value: boolean, tell: boolean): void {
    this.offline = value;
    this.sink.offline(value);
    if (tell) this.post({ kind: 'state', offline: value, last: this.last });
  }

  private post(note: Note): void {
    this.channel?.postMessage(note);
  }
}
