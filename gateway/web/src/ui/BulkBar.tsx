// Bulk actions (F6): the rows picked (a click on a row's box, a shift-click for a range, `x`) or
// everything that matches the list, one F6.2 action on them through `POST /v1/bulk` — a dry run
// counts first; close, block, delete and wide selections ask for a confirmation that repeats
// the action and the count (F6.3); the answer's changed count is shown, and a large selection's
// job shows its progress (`GET /v1/jobs/{job}` and the live stream's `job` events).
// "Resend failed" (F6.5: since a day, through a channel, with a pause between sends) and
// "Delete unsubscribed" (F6.6) select their own dialogs among those the list holds.

import { signal } from '@preact/signals';
import { api, ok } from '../api/client';
import type { BulkAnswer, BulkRequest, JobView } from '../api/types';
import { t, type Key } from '../i18n';
import {
  archived,
  clearPicked,
  folder,
  job,
  listFilter,
  openDialog,
  picked,
  pickedAll,
  project,
  refreshCounters,
  refreshTimeline,
  reloadList,
  tab,
  timeline,
} from '../state';
import { messageOf } from './Form';


const ACTIONS = [
  'mark_read',
  'mark_unread',
  'close',
  'assign',
  'block',
  'unblock',
  'delete',
  'add_tags',
  'remove_tags',
  'join_lists',
  'leave_lists',
  'join_folders',
  'leave_folders',
  'resend_failed',
  'delete_unsubscribed',
] as const;
type ActionName = (typeof ACTIONS)[number];

/** What each action needs picked beside the dialogs. */
const TARGET: Partial<Record<ActionName, 'operator' | 'tag' | 'list' | 'folder'>> = {
  assign: 'operator',
  add_tags: 'tag',
  remove_tags: 'tag',
  join_lists: 'list',
  leave_lists: 'list',
  join_folders: 'folder',
  leave_folders: 'folder',
};

/** The actions that select their own dialogs (the list's filter narrows them, never picks). */
const SELF_SELECTING: readonly ActionName[] = ['resend_failed', 'delete_unsubscribed'];
const DESTRUCTIVE: readonly ActionName[] = ['close', 'block', 'delete', 'delete_unsubscribed'];

const action = signal<ActionName>('mark_read');
const target = signal('');
/** `resend_failed`'s options: failed since this day (`YYYY-MM-DD`), through this channel, and
 * the seconds between two sends. */
const resendSince = signal('');
const resendChannel = signal('');
const resendInterval = signal('');
const busy = signal(false);
const message = signal<string | null>(null);
const failed = signal<string | null>(null);
/** The confirmation asked (F6.3): the request and the dry run's count. */
const confirming = signal<{ body: BulkRequest; name: ActionName; count: number } | null>(null);

function targets(kind: 'operator' | 'tag' | 'list' | 'folder'): { id: string; name: string }[] {
  const p = project.value;
  if (!p) return [];
  switch (kind) {
    case 'operator':
      return p.operators.map((o) => ({ id: o.operator, name: o.name }));
    case 'tag':
      return p.tags.map((x) => ({ id: x.tag, name: x.name }));
    case 'list':
      return p.lists.map((x) => ({ id: x.id, name: x.name }));
    case 'folder':
      return p.folders.map((x) => ({ id: x.folder, name: x.name }));
  }
}

function dialogAction(name: ActionName, id: string): BulkRequest['action'] | null {
  switch (name) {
    case 'assign':
      return id ? { action: 'assign', operator: id } : null;
    case 'add_tags':
    case 'remove_tags':
      return id ? { action: name, tags: [id] } : null;
    case 'join_lists':
    case 'leave_lists':
      return id ? { action: name, lists: [id] } : null;
    case 'join_folders':
    case 'leave_folders':
      return id ? { action: name, folders: [id] } : null;
    case 'resend_failed': {
      const interval = Number.parseInt(resendInterval.value, 10);
      return {
        action: 'resend_failed',
        // 00:00 of the day, in the browser's time zone.
        since: resendSince.value ? new Date(`${resendSince.value}T00:00:00`).toISOString() : null,
        channel: resendChannel.value || null,
        interval_secs: Number.isFinite(interval) && interval > 0 ? interval : null,
      };
    }
    default:
      return { action: name };
  }
}

/** The request for the picked rows, or for everything that matches the list. */
function request(): BulkRequest | null {
  const a = dialogAction(action.value, target.value);
  if (!a) return null;
  if (pickedAll.value || SELF_SELECTING.includes(action.value)) {
    return {
      action: a,
      filter: listFilter.value ?? { all: [] },
      tab: tab.value,
      folder: folder.value,
      archived: archived.value,
    };
  }
  return { action: a, dialog_ids: [...picked.value] };
}

function actionLabel(name: ActionName): string {
  return t(`bulk.act.${name}` as Key);
}

async function finished(seq: number, tally: { changed: number; unchanged: number; skipped: number; failed: number }) {
  message.value = t('bulk.done', tally);
  clearPicked();
  // F6.5: the open dialog's failed messages may have been resent (their statuses then come by
  // the live stream).
  const dialog = openDialog.value;
  const again =
    dialog !== null && timeline.value.some((i) => i.delivery === 'failed')
      ? refreshTimeline(dialog, seq)
      : Promise.resolve();
  await Promise.all([reloadList(seq), refreshCounters(), again]).catch(() => {});
}

/** Follows a job until it is done: the live stream's events, and its route every second. */
async function follow(started: JobView): Promise<void> {
  job.value = started;
  while (job.value && job.value.job === started.job && job.value.state !== 'done') {
    await new Promise((r) => setTimeout(r, 1000));
    try {
      const now: JobView = await ok(api.GET('/v1/jobs/{job}', { params: { path: { job: started.job } } }));
      if (job.value?.job === started.job && now.done >= (job.value?.done ?? 0)) job.value = now;
    } catch (e) {
      failed.value = messageOf(e);
      return;
    }
  }
  const done = job.value;
  if (done && done.job === started.job) await finished(done.seq, done);
}

async function execute(body: BulkRequest, confirm: { action: string; count: number } | null): Promise<void> {
  busy.value = true;
  failed.value = null;
  try {
    const answer = await ok(
      api.POST('/v1/bulk', {
        body: confirm ? { ...body, confirm } : body,
        headers: { 'idempotency-key': crypto.randomUUID() },
      }),
    );
    if ('job' in answer) await follow(answer as JobView);
    else await finished((answer as BulkAnswer).seq, answer as BulkAnswer);
  } catch (e) {
    failed.value = messageOf(e);
  } finally {
    busy.value = false;
  }
}

async function start(): Promise<void> {
  const body = request();
  if (!body) return;
  busy.value = true;
  failed.value = null;
  message.value = null;
  job.value = null;
  let dry: BulkAnswer;
  try {
    // A dry run answers the tally, never a job.
    dry = (await ok(api.POST('/v1/bulk', { body: { ...body, dry_run: true } }))) as BulkAnswer;
  } catch (e) {
    failed.value = messageOf(e);
    busy.value = false;
    return;
  }
  busy.value = false;
  if (dry.selected === 0) {
    message.value = t('bulk.nothing');
    return;
  }
  if (dry.confirm_needed) {
    confirming.value = { body, name: action.value, count: dry.selected };
    return;
  }
  await execute(body, null);
}

function Confirm() {
  const c = confirming.value;
  if (!c) return null;
  const label = actionLabel(c.name);
  const destructive = DESTRUCTIVE.includes(c.name);
  const cancel = () => {
    confirming.value = null;
    document.getElementById('bulk-run')?.focus();
  };
  return (
    <div class="overlay opaque" onClick={cancel}>
      <div
        class="dialog"
        role="alertdialog"
        aria-modal="true"
        aria-labelledby="bulk-confirm-title"
        aria-describedby="bulk-confirm-text"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            cancel();
          }
        }}
      >
        <h2 id="bulk-confirm-title">{t('bulk.confirm_title', { action: label, n: c.count })}</h2>
        <p id="bulk-confirm-text">{t('bulk.confirm_text', { action: label, n: c.count })}</p>
        <div class="dialog-buttons">
          <button autoFocus onClick={cancel}>
            {t('bulk.cancel')}
          </button>
          <button
            class={destructive ? 'primary danger' : 'primary'}
            data-count={c.count}
            onClick={() => {
              confirming.value = null;
              void execute(c.body, { action: c.name, count: c.count });
            }}
          >
            {t('bulk.confirm', { action: label, n: c.count })}
          </button>
        </div>
      </div>
    </div>
  );
}

/** `resend_failed`'s options (F6.5). */
function ResendOptions() {
  const channels = project.value?.channels ?? [];
  return (
    <>
      <span class="bulk-option">
        <label for="bulk-resend-since">{t('bulk.resend_since')}</label>
        <input
          id="bulk-resend-since"
          type="date"
          value={resendSince.value}
          onInput={(e) => (resendSince.value = (e.currentTarget as HTMLInputElement).value)}
        />
      </span>
      <span class="bulk-option">
        <label for="bulk-resend-channel">{t('bulk.resend_channel')}</label>
        <select
          id="bulk-resend-channel"
          value={resendChannel.value}
          onChange={(e) => (resendChannel.value = (e.currentTarget as HTMLSelectElement).value)}
        >
          <option value="">{t('bulk.resend_any_channel')}</option>
          {channels.map((c) => (
            <option key={c.channel} value={c.channel}>
              {c.name}
            </option>
          ))}
        </select>
      </span>
      <span class="bulk-option">
        <label for="bulk-resend-interval">{t('bulk.resend_interval')}</label>
        <input
          id="bulk-resend-interval"
          type="number"
          min={0}
          max={3600}
          inputMode="numeric"
          value={resendInterval.value}
          onInput={(e) => (resendInterval.value = (e.currentTarget as HTMLInputElement).value)}
        />
      </span>
    </>
  );
}

export function BulkBar() {
  const n = picked.value.size;
  const j = job.value;
  if (n === 0 && !pickedAll.value && !message.value && !failed.value && !(j && j.state !== 'done')) return null;
  const needs = TARGET[action.value];
  const running = j && j.state !== 'done';
  return (
    <section class="bulk" aria-label={t('bulk.label')}>
      {(n > 0 || pickedAll.value) && (
        <div class="bulk-row">
          <span class="bulk-count" data-testid="bulk-count">
            {pickedAll.value ? t('bulk.all') : t('bulk.count', { n })}
          </span>
          {!pickedAll.value && (
            <button class="link" onClick={() => (pickedAll.value = true)}>
              {t('bulk.pick_all')}
            </button>
          )}
          <button class="link" onClick={clearPicked}>
            {t('bulk.clear')}
          </button>
        </div>
      )}
      {(n > 0 || pickedAll.value) && (
        <div class="bulk-row">
          <label for="bulk-action" class="visually-hidden">
            {t('bulk.action')}
          </label>
          <select
            id="bulk-action"
            value={action.value}
            onChange={(e) => {
              action.value = (e.currentTarget as HTMLSelectElement).value as ActionName;
              target.value = '';
            }}
          >
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {actionLabel(a)}
              </option>
            ))}
          </select>
          {needs && (
            <>
              <label for="bulk-target" class="visually-hidden">
                {t(`bulk.${needs}` as Key)}
              </label>
              <select id="bulk-target" value={target.value} onChange={(e) => (target.value = (e.currentTarget as HTMLSelectElement).value)}>
                <option value="">{t(`bulk.${needs}` as Key)}…</option>
                {targets(needs).map((x) => (
                  <option key={x.id} value={x.id}>
                    {x.name}
                  </option>
                ))}
              </select>
            </>
          )}
          {action.value === 'resend_failed' && <ResendOptions />}
          <button id="bulk-run" class="primary" disabled={busy.value || (!!needs && !target.value)} onClick={() => void start()}>
            {busy.value ? t('bulk.counting') : t('bulk.run')}
          </button>
        </div>
      )}
      {running && (
        <div class="bulk-row" role="status">
          <progress max={j.total} value={j.done} aria-label={t('bulk.progress', { done: j.done, total: j.total })} />
          <span>{t('bulk.progress', { done: j.done, total: j.total })}</span>
        </div>
      )}
      <p class="bulk-message" role="status" data-testid="bulk-message">
        {message.value}
      </p>
      {failed.value && (
        <p class="form-error" role="alert">
          {failed.value}
        </p>
      )}
      <Confirm />
    </section>
  );
}

/** The rows loaded that are picked (for the row's mark). */
export function isPicked(dialog: string): boolean {
  return pickedAll.value || picked.value.has(dialog);
}

