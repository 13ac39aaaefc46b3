// The live stream `/v1/live`: rows move and change, counters and badges update, the open
// dialog's timeline follows, all without a reload. One `EventSource` serves all of a person's
// tabs (`lib/liveShare`: the tab holding a Web Lock opens it and passes its events on over a
// BroadcastChannel). The browser reconnects by itself and sends `Last-Event-ID`, so the server
// resumes after the last event applied; a tab taking over the stream resumes the same way.

import { batch } from '@preact/signals';
import type { Counters, DialogItem, JobView, LiveMessage, LiveRemove, LiveRow } from './api/types';
import { applyRow, removeRow } from './lib/listStore';
import {
  counters,
  job,
  list,
  me,
  offline,
  openDialog,
  openRow,
  refreshCard,
  refreshTimeline,
  reloadList,
  screen,
  start,
  view,
} from './state';
import { notifyOf } from './notifier';
import { type LiveEvent, type Ports, SharedLive } from './lib/liveShare';

/** This tab's part in the shared stream. */
let current: SharedLive | null = null;

/** A row without the caller's own state: what the timeline and the card follow. */
function shared(row: DialogItem | null): string {
  if (!row) return '';
  const { draft: _draft, unread: _unread, unread_messages: _count, ...rest } = row;
  return JSON.stringify(rest);
}

function onRow(data: LiveRow | LiveMessage): void {
  const row = data.row;
  const before = openDialog.value === row.dialog ? shared(openRow.value) : '';
  batch(() => {
    list.value = applyRow(list.value, row, view.value);
    if (openDialog.value === row.dialog) openRow.value = row;
  });
  if (openDialog.value !== row.dialog) return;
  // A change of the caller's own draft or read state changes neither timeline nor card; a
  // delivery status or an edit changes the timeline only (`timeline`).
  const changed = 'messages' in data || before !== shared(row);
  if (changed || ('timeline' in data && data.timeline)) {
    void refreshTimeline(row.dialog, data.seq).catch(() => {});
  }
  if (changed) void refreshCard(row.dialog, data.seq).catch(() => {});
}

function parse<T>(event: LiveEvent): T | null {
  try {
    return JSON.parse(event.data) as T;
  } catch {
    return null;
  }
}

/** The events `/v1/live` sends (`api/live/mod.rs`). */
const EVENTS = ['row', 'message', 'remove', 'counters', 'heartbeat', 'reset', 'job'] as const;

/** One event applied in this tab; `relayed`: another tab holds the stream (and notifies). */
function apply(event: LiveEvent, relayed: boolean): void {
  switch (event.type) {
    case 'row': {
      const data = parse<LiveRow>(event);
      if (data) onRow(data);
      break;
    }
    case 'message': {
      const data = parse<LiveMessage>(event);
      if (data) onRow(data);
      if (data && !relayed) notifyOf(data);
      break;
    }
    case 'remove': {
      const data = parse<LiveRemove>(event);
      if (data) list.value = removeRow(list.value, data.dialog);
      break;
    }
    case 'counters': {
      const data = parse<Counters>(event);
      if (data) counters.value = data;
      offline.value = false;
      break;
    }
    case 'heartbeat':
      offline.value = false;
      break;
    case 'reset':
      void reloadList();
      break;
    case 'job': {
      // A bulk job of this operator's moved on (F6): the bulk bar shows how far.
      const data = parse<JobView>(event);
      if (data && job.value?.job === data.job && data.done >= job.value.done) job.value = data;
      break;
    }
  }
}

/** The browser's parts; without Web Locks or BroadcastChannel each tab keeps its own stream. */
function browserPorts(name: string): Ports {
  const alone = typeof BroadcastChannel === 'undefined' || !navigator.locks;
  return {
    channel: () => {
      if (alone) return { postMessage: () => {}, onmessage: null, close: () => {} };
      return new BroadcastChannel(name) as unknown as ReturnType<Ports['channel']>;
    },
    lock: (task, signal) => (alone ? task() : navigator.locks.request(name, { signal }, task)),
    open: (last, on) => {
      const query = last ? `?last_event_id=${encodeURIComponent(last)}` : '';
      const stream = new EventSource(`/v1/live${query}`);
      stream.onopen = () => on.open();
      stream.onerror = () => on.error(stream.readyState === EventSource.CLOSED);
      for (const type of EVENTS) {
        stream.addEventListener(type, (e) => {
          const message = e as MessageEvent;
          on.event({ type, data: String(message.data), id: message.lastEventId });
        });
      }
      return stream;
    },
  };
}

export function connectLive(): void {
  disconnectLive();
  const live = new SharedLive(browserPorts(`sb.live.${me.value?.operator ?? ''}`), {
    event: apply,
    offline: (value) => {
      offline.value = value;
    },
    refused: () => {
      // Refused (e.g. the session ended): find out whether we are still signed in.
      live.stop();
      if (current === live) current = null;
      void start().then(() => {
        if (current === null && screen.value === 'inbox') connectLive();
      });
    },
  });
  current = live;
  live.start();
}

export function disconnectLive(): void {
  current?.stop();
  current = null;
}
