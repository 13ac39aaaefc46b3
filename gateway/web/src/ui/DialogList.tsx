// The left pane: tabs with their counts (F1.4), folders with badges (F1.5), the archived switch
// (F1.6), and the dialog list (F1.2) — endless over the API's cursor and windowed, so that only
// the rows near the viewport are in the DOM however far one scrolls.

import { useEffect, useRef } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import type { DialogItem, TabName } from '../api/types';
import { t } from '../i18n';
import { initials } from '../lib/text';
import { slaMark } from '../lib/sla';
import { nearEnd, scrollToReveal, visibleRange } from '../lib/windowing';
import {
  activeIndex,
  archived,
  channelOf,
  counters,
  folder,
  list,
  listLoading,
  listVersion,
  loadMore,
  me,
  open,
  openDialog,
  operatorName,
  pickRow,
  project,
  reloadList,
  tab,
} from '../state';
import { shortTime } from './format';
import { ChannelIcon } from './ChannelIcon';
import { RowTags } from './RowTags';
import { isPicked } from './BulkBar';
import { ListTools } from './ListTools';

export const ROW_HEIGHT = 76;
const OVERSCAN = 8;

/**
 * The User Timing mark set once the first page of rows is in the DOM and painted (issue 18's
 * budget "navigation to the first page of the list drawn"): `scripts/bench.mjs` reads it.
 */
export const LIST_DRAWN_MARK = 'sb:list-drawn';

const TABS: readonly TabName[] = ['all', 'unanswered', 'mine', 'others', 'free'];

function tabCount(name: TabName): number | null {
  const c = counters.value;
  if (!c) return null;
  // The API counts the *Unanswered* tab; the other tabs' counts are not in `/v1/counters`.
  return name === 'unanswered' ? c.unanswered : null;
}

function Tabs() {
  return (
    <div class="tabs" role="tablist" aria-label={t('tabs.label')}>
      {TABS.map((name) => {
        const count = tabCount(name);
        const selected = tab.value === name;
        return (
          <button
            key={name}
            role="tab"
            id={`tab-${name}`}
            aria-selected={selected}
            aria-controls="dialog-list"
            tabIndex={selected ? 0 : -1}
            class={selected ? 'tab selected' : 'tab'}
            onClick={() => {
              tab.value = name;
              void reloadList();
            }}
          >
            {t(`tab.${name}`)}
            {count !== null && <span class="count" data-testid={`tab-count-${name}`}>{count}</span>}
          </button>
        );
      })}
    </div>
  );
}

function Folders() {
  const c = counters.value;
  const entries: { id: string; name: string; badge: number | null }[] = [
    { id: 'all', name: t('folder.all'), badge: c?.all_chats ?? null },
    { id: 'with_operator', name: t('folder.with_operator'), badge: c?.with_operator ?? null },
    ...(c?.folders ?? []).map((f) => ({ id: f.folder, name: f.name, badge: f.badge })),
  ];
  return (
    <nav class="folders" aria-label={t('folders.label')}>
      <ul>
        {entries.map((f) => (
          <li key={f.id}>
            <button
              class={folder.value === f.id ? 'folder selected' : 'folder'}
              aria-current={folder.value === f.id ? 'true' : undefined}
              onClick={() => {
                folder.value = f.id;
                void reloadList();
              }}
            >
              <span class="folder-name">{f.name}</span>
              {f.badge ? <span class="badge" data-testid={`badge-${f.id}`}>{f.badge}</span> : null}
            </button>
          </li>
        ))}
      </ul>
      <label class="switch">
        <input
          type="checkbox"
          checked={archived.value}
          onChange={(e) => {
            archived.value = (e.currentTarget as HTMLInputElement).checked;
            void reloadList();
          }}
        />
        {t('list.archived')}
      </label>
    </nav>
  );
}

function authorLabel(row: DialogItem): string | null {
  const last = row.last_message;
  if (!last) return null;
  const author = last.author;
  if (!author) return last.attachments > 0 ? t('author.attachment') : null;
  switch (author.kind) {
    case 'client':
      return t('author.client');
    case 'bot':
      return t('author.bot');
    case 'note':
      return t('author.note');
    case 'operator':
      return author.operator === me.value?.operator ? t('author.you') : (operatorName(author.operator) ?? '—');
  }
}

function assigneeLabel(row: DialogItem): string {
  if (!row.assignee) return t('row.free');
  if (row.assignee === me.value?.operator) return t('row.yours');
  return operatorName(row.assignee) ?? '—';
}

function PinMark() {
  return (
    <svg class="mark" viewBox="0 0 16 16" width="12" height="12" role="img" aria-label={t('row.pinned')}>
      <title>{t('row.pinned')}</title>
      <path d="M5 1h6l-1 5 3 3H9l-1 6-1-6H3l3-3z" fill="currentColor" />
    </svg>
  );
}

export function Row({ row, index, active }: { row: DialogItem; index: number; active: boolean }) {
  const channel = channelOf(row.last_message?.channel);
  const title = row.title ?? `#${row.client.number}`;
  const label = authorLabel(row);
  const preview = row.last_message?.preview ?? (row.last_message?.attachments ? t('author.attachment') : null);
  const sla = slaMark(row.waiting_since, project.value?.sla, Date.now());
  const classes = ['row'];
  if (active) classes.push('active');
  if (openDialog.value === row.dialog) classes.push('open');
  if (row.unread) classes.push('unread');
  const chosen = isPicked(row.dialog);
  if (chosen) classes.push('picked');
  return (
    <div
      role="option"
      id={`row-${row.dialog}`}
      data-dialog={row.dialog}
      aria-selected={openDialog.value === row.dialog}
      aria-posinset={index + 1}
      aria-setsize={-1}
      class={classes.join(' ')}
      style={{ transform: `translateY(${index * ROW_HEIGHT}px)` }}
      onClick={() => {
        activeIndex.value = index;
        void open(row.dialog);
      }}
    >
      {/* The box is the mouse's way to pick (`x` is the keyboard's); the option's name says it. */}
      <span
        class="pick"
        aria-hidden="true"
        title={t('bulk.pick')}
        data-testid="pick"
        onMouseDown={(e) => {
          // A shift-click picks a range of rows, not a range of text.
          if (e.shiftKey) e.preventDefault();
        }}
        onClick={(e) => {
          e.stopPropagation();
          pickRow(index, e.shiftKey);
        }}
      />
      {chosen && <span class="visually-hidden">{t('bulk.picked_row')}</span>}
      <div class="avatar" aria-hidden="true">
        {initials(title)}
        {row.client.avatar_url && (
          <img
            src={row.client.avatar_url}
            alt=""
            loading="lazy"
            referrerpolicy="no-referrer"
            onError={(e) => ((e.currentTarget as HTMLImageElement).style.display = 'none')}
          />
        )}
        {channel && <ChannelIcon kind={channel.kind} />}
      </div>
      <div class="row-main">
        <div class="row-top">
          <span class="row-title">
            {row.pinned && <PinMark />}
            {title}
          </span>
          <time class="row-time" dateTime={row.last_activity_at}>
            {shortTime(row.last_activity_at)}
          </time>
        </div>
        <div class="row-preview">
          {row.draft ? (
            <>
              <span class="draft-label">{t('row.draft')}:</span> <span>{row.draft}</span>
            </>
          ) : preview || label ? (
            <>
              {label && <span class="author">{label}:</span>} <span>{preview ?? ''}</span>
            </>
          ) : (
            <span class="placeholder">{t('row.no_messages')}</span>
          )}
        </div>
        <div class="row-bottom">
          <span class="assignee">{assigneeLabel(row)}</span>
          {channel && <span class="channel-name">{channel.name}</span>}
          <RowTags tags={row.tags} />
          {row.closed && <span class="status">{t('row.closed')}</span>}
          {row.blocked && <span class="status">{t('row.blocked')}</span>}
          {row.bot_paused && <span class="status">{t('row.bot_paused')}</span>}
          {sla && (
            <span class={`sla ${sla}`} role="img" aria-label={t(sla === 'red' ? 'row.sla_red' : 'row.sla_yellow')} />
          )}
          {row.unread_messages > 0 && (
            <span class="unread-count" aria-label={t('row.unread', { n: row.unread_messages })}>
              {row.unread_messages}
            </span>
          )}
        </div>
      </div>
    </div>
  );
}

export function DialogList() {
  const scroller = useRef<HTMLDivElement>(null);
  const scrollTop = useSignal(0);
  const viewport = useSignal(600);
  const state = list.value;
  const count = state.ids.length;
  const range = visibleRange({
    scrollTop: scrollTop.value,
    viewport: viewport.value,
    rowHeight: ROW_HEIGHT,
    count,
    overscan: OVERSCAN,
  });

  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const measure = () => {
      viewport.value = element.clientHeight;
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  // A new tab, folder or switch starts at the top.
  useEffect(() => {
    if (scroller.current) scroller.current.scrollTop = 0;
    scrollTop.value = 0;
  }, [listVersion.value]);

  // Keep the keyboard's row in view.
  useEffect(() => {
    const element = scroller.current;
    if (!element) return;
    const target = scrollToReveal(activeIndex.value, element.scrollTop, element.clientHeight, ROW_HEIGHT);
    if (target !== null) element.scrollTop = target;
  }, [activeIndex.value]);

  // Preact runs effects after the browser painted the frame: the rows are drawn by now.
  useEffect(() => {
    if (count > 0 && performance.getEntriesByName(LIST_DRAWN_MARK).length === 0) {
      performance.mark(LIST_DRAWN_MARK, { detail: { rows: count } });
    }
  }, [count > 0]);

  // Load the next page when the viewport nears the end (also when the first page is short).
  useEffect(() => {
    const input = { scrollTop: scrollTop.value, viewport: viewport.value, rowHeight: ROW_HEIGHT, count, overscan: 0 };
    if (!state.complete && !listLoading.value && count > 0 && nearEnd(input, 20)) void loadMore();
  }, [scrollTop.value, viewport.value, count, state.complete, listLoading.value]);

  const active = state.ids[activeIndex.value];
  const rows = [];
  for (let i = range.start; i < range.end; i += 1) {
    const id = state.ids[i] as string;
    const row = state.rows[id];
    if (row) rows.push(<Row key={id} row={row} index={i} active={i === activeIndex.value} />);
  }
  return (
    <section class="list-pane" aria-label={t('list.label')}>
      <ListTools />
      <Tabs />
      <Folders />
      {count === 0 && (
        <p class="list-empty" role="status">
          {listLoading.value ? t('list.loading') : t('list.empty')}
        </p>
      )}
      <div
        id="dialog-list"
        class="list"
        ref={scroller}
        role="listbox"
        tabIndex={0}
        aria-label={t('list.label')}
        aria-activedescendant={active ? `row-${active}` : undefined}
        aria-busy={listLoading.value}
        data-count={count}
        data-complete={state.complete ? 'true' : 'false'}
        onScroll={(e) => {
          scrollTop.value = (e.currentTarget as HTMLDivElement).scrollTop;
        }}
      >
        <div class="spacer" style={{ height: `${range.total}px` }}>
          {rows}
        </div>
      </div>

    </section>
  );
}
