// One `EventSource` on `/v1/live` per tab: rows move and change, counters and badges update,
// the open dialog's timeline follows, all without a reload. The browser reconnects by itself
// and sends `Last-Event-ID`, so the server resumes after the last event this tab applied.
// (Sharing one stream among a person's tabs, BroadcastChannel or a SharedWorker, is to come.)

import { batch } from '@preact/signals';
import type { Counters, DialogItem, JobView, LiveMessage, LiveRemove, LiveRow } from './api/types';
import { applyRow, removeRow } from './lib/listStore';
import {
  counters,
  job,
  list,
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

let source: EventSource | null = null;

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
  // A change of the caller's own draft or read state changes neither timeline nor card.
  if (openDialog.value === row.dialog && ('messages' in data || before !== shared(row))) {
    void refreshTimeline(row.dialog, data.seq).catch(() => {});
    void refreshCard(row.dialog, data.seq).catch(() => {});
  }
}

function parse<T>(event: MessageEvent): T | null {
  try {
    return JSON.parse(event.data as string) as T;
  } catch {
    return null;
  }
}

export function connectLive(): void {
  disconnectLive();
  const stream = new EventSource('/v1/live');
  source = stream;
  stream.onopen = () => {
    offline.value = false;
  };
  stream.onerror = () => {
    offline.value = true;
    if (stream.readyState === EventSource.CLOSED) {
      // Refused (e.g. the session ended): find out whether we are still signed in.
      source = null;
      void start().then(() => {
        if (source === null && screen.value === 'inbox') connectLive();
      });
    }
  };
  stream.addEventListener('row', (e) => {
    const data = parse<LiveRow>(e as MessageEvent);
    if (data) onRow(data);
  });
  stream.addEventListener('message', (e) => {
    const data = parse<LiveMessage>(e as MessageEvent);
    if (data) onRow(data);
    if (data) notifyOf(data);
  });
  stream.addEventListener('remove', (e) => {
    const data = parse<LiveRemove>(e as MessageEvent);
    if (!data) return;
    list.value = removeRow(list.value, data.dialog);
  });
  stream.addEventListener('counters', (e) => {
    const data = parse<Counters>(e as MessageEvent);
    if (data) counters.value = data;
    offline.value = false;
  });
  stream.addEventListener('heartbeat', () => {
    offline.value = false;
  });
  stream.addEventListener('reset', () => {
    void reloadList();
  });
  // A bulk job of this operator's moved on (F6): the bulk bar shows how far.
  stream.addEventListener('job', (e) => {
    const data = parse<JobView>(e as MessageEvent);
    if (data && job.value?.job === data.job && data.done >= job.value.done) job.value = data;
  });
}

export function disconnectLive(): void {
  source?.close();
  source = null;
}
