// What the inbox knows, in signals: who is signed in, the project's definitions, the counters,
// the list (through `lib/listStore`), the open dialog with its timeline and card, and whether
// the live stream is up. Loading functions fill them from `/v1`; `live.ts` keeps them current.

import { computed, signal } from '@preact/signals';
import { ApiFailure, api, keepCsrf, ok } from './api/client';
import type {
  CardAnswer,
  Counters,
  DialogAction,
  DialogItem,
  JobView,
  Me,
  OrderName,
  ProfileAnswer,
  ProfileChange,
  ProjectAction,
  ProjectAnswer,
  TabName,
  TimelineItem,
} from './api/types';
import { setLang, followBrowserLang } from './i18n';
import { appendPage, emptyList, type ListState, type View } from './lib/listStore';
import { activeFrom, type FilterNode } from './lib/filterModel';
import { range, toggle } from './lib/selection';

export type Screen = 'loading' | 'signin' | 'setup' | 'inbox';

export const screen = signal<Screen>('loading');
export const me = signal<Me | null>(null);
export const project = signal<ProjectAnswer | null>(null);
export const counters = signal<Counters | null>(null);
export const offline = signal(false);

export const tab = signal<TabName>('all');
export const folder = signal<string>('all');
export const archived = signal(false);
export const order = signal<OrderName>('activity');
export const list = signal<ListState>(emptyList);
export const listLoading = signal(false);
/** Grows at every reload of the list (the list scrolls back to its top). */
export const listVersion = signal(0);
let nextCursor: string | null = null;
let listGeneration = 0;

/** The dialog open in the centre (from the URL `/dialogs/{id}`). */
export const openDialog = signal<string | null>(dialogFromPath(window.location.pathname));
/** The list row under the keyboard cursor. */
export const activeIndex = signal(0);
export const timeline = signal<TimelineItem[]>([]);
export const timelineCursor = signal<string | null>(null);
export const card = signal<CardAnswer | null>(null);
export const openRow = signal<DialogItem | null>(null);
/** Why the open dialog could not be shown (gone, reassigned away, the network). */
export const openError = signal<string | null>(null);

export const view = computed<View>(() => ({
  tab: tab.value,
  folder: folder.value,
  archived: archived.value,
  order: order.value,
  me: me.value?.operator ?? '',
  filtered: listFilter.value !== null,
}));

export function dialogFromPath(path: string): string | null {
  const match = /^\/dialogs\/([0-9a-fA-F-]{36})$/.exec(path);
  return match ? (match[1] as string) : null;
}

export function operatorName(id: string | null | undefined): string | null {
  if (!id) return null;
  return project.value?.operators.find((o) => o.operator === id)?.name ?? null;
}

export function channelOf(id: string | null | undefined) {
  if (!id) return null;
  return project.value?.channels.find((c) => c.channel === id) ?? null;
}

/** Decides the first screen: the inbox when a session holds, else sign-in or first run. */
export async function start(): Promise<void> {
  try {
    const who = await ok(api.GET('/v1/auth/me'));
    // The session's CSRF token comes back with it: a page whose storage lost it still writes.
    if (who.csrf) keepCsrf(who.csrf);
    me.value = who;
    screen.value = 'inbox';
    await Promise.all([loadInbox(), loadProfile().catch(() => undefined)]);
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 401) {
      const setup = await ok(api.GET('/v1/setup')).catch(() => ({ empty: false }));
      screen.value = setup.empty ? 'setup' : 'signin';
    } else {
      screen.value = 'signin';
    }
  }
}

export function signedOut(): void {
  keepCsrf(null);
  me.value = null;
  project.value = null;
  counters.value = null;
  list.value = emptyList;
  openDialog.value = null;
  timeline.value = [];
  card.value = null;
  screen.value = 'signin';
  window.history.replaceState(null, '', '/');
}

export async function loadInbox(): Promise<void> {
  // The list's first page is asked for with the definitions, not after them (the first page
  // drawn is the inbox's time budget, issue 18); its rows are shown once the definitions that
  // name their channels and operators are in.
  const definitions = ok(api.GET('/v1/project')).then((answer) => (project.value = answer));
  const numbers = ok(api.GET('/v1/counters')).then((answer) => (counters.value = answer));
  await Promise.all([definitions, numbers, reloadList(undefined, definitions)]);
  if (openDialog.value) await open(openDialog.value, { push: false });
}

export async function refreshCounters(): Promise<void> {
  counters.value = await ok(api.GET('/v1/counters'));
}

/**
 * The list from its first page again (a tab, folder or switch changed, or a `reset`); `ready`:
 * what must be in before the page is shown.
 */
export async function reloadList(minSeq?: number, ready?: Promise<unknown>): Promise<void> {
  listGeneration += 1;
  listVersion.value = listGeneration;
  nextCursor = null;
  list.value = emptyList;
  activeIndex.value = 0;
  await loadMore(minSeq, ready);
}

const PAGE = 100;

/** `minSeq`: answer once the read models applied it (after a bulk action of this page's). */
export async function loadMore(minSeq?: number, ready?: Promise<unknown>): Promise<void> {
  if (listLoading.value || list.value.complete) return;
  const generation = listGeneration;
  listLoading.value = true;
  try {
    const fields = {
      tab: tab.value,
      folder: folder.value,
      archived: archived.value,
      order: order.value,
      limit: PAGE,
      ...(nextCursor ? { cursor: nextCursor } : {}),
    };
    const seq = minSeq ? { min_seq: minSeq } : {};
    // A filter goes in the body (F2.4: groups make it too long for a URL).
    const filter = listFilter.value;
    const page = await ok(
      filter
        ? api.POST('/v1/dialogs/query', { params: { query: seq }, body: { ...fields, filter } })
        : api.GET('/v1/dialogs', { params: { query: { ...fields, ...seq } } }),
    );
    await ready;
    if (generation !== listGeneration) return;
    nextCursor = page.next_cursor ?? null;
    list.value = appendPage(list.value, page.items, nextCursor === null);
  } finally {
    listLoading.value = false;
  }
}

/** Opens a dialog: its row, card and newest timeline page; marks it read (F4.3). */
export async function open(
  dialog: string,
  options: { push: boolean; around?: string } = { push: true },
): Promise<void> {
  if (options.push && openDialog.value !== dialog) {
    window.history.pushState(null, '', `/dialogs/${dialog}`);
  }
  openDialog.value = dialog;
  highlight.value = null;
  const index = list.value.ids.indexOf(dialog);
  if (index >= 0) activeIndex.value = index;
  openRow.value = list.value.rows[dialog] ?? null;
  timeline.value = [];
  timelineCursor.value = null;
  card.value = null;
  openError.value = null;
  const path = { params: { path: { dialog } } };
  let answers;
  try {
    answers = await Promise.all([
      ok(api.GET('/v1/dialogs/{dialog}', path)),
      ok(api.GET('/v1/dialogs/{dialog}/timeline', path)),
      ok(api.GET('/v1/dialogs/{dialog}/card', path)),
    ]);
  } catch (error) {
    if (openDialog.value === dialog) openError.value = error instanceof Error ? error.message : String(error);
    return;
  }
  const [row, page, clientCard] = answers;
  if (openDialog.value !== dialog) return;
  // The single-dialog answer carries no draft; the list row (or a live row) does.
  openRow.value = { ...row, draft: list.value.rows[dialog]?.draft ?? openRow.value?.draft ?? null };
  timeline.value = page.items;
  timelineCursor.value = page.next_cursor ?? null;
  card.value = clientCard;
  if (row.unread) void act(dialog, { action: 'mark_read' }).catch(() => {});
  // A search hit's entry, or the start of the filter's activity range (F2.3 jumps to it).
  const around = options.around ?? activeFrom(listFilter.value);
  if (around) await showAround(dialog, around);
}

export function closeDialog(): void {
  openDialog.value = null;
  window.history.pushState(null, '', '/');
}

export async function loadOlder(): Promise<void> {
  const dialog = openDialog.value;
  const cursor = timelineCursor.value;
  if (!dialog || !cursor) return;
  const page = await ok(
    api.GET('/v1/dialogs/{dialog}/timeline', { params: { path: { dialog }, query: { cursor } } }),
  );
  if (openDialog.value !== dialog) return;
  const known = new Set(timeline.value.map((i) => i.id));
  timeline.value = [...timeline.value, ...page.items.filter((i) => !known.has(i.id))];
  timelineCursor.value = page.next_cursor ?? null;
}

/** The newest timeline page again, merged with what is loaded (after a change to the dialog). */
export async function refreshTimeline(dialog: string, minSeq?: number): Promise<void> {
  const query = minSeq ? { min_seq: minSeq } : {};
  const page = await ok(
    api.GET('/v1/dialogs/{dialog}/timeline', { params: { path: { dialog }, query } }),
  );
  if (openDialog.value !== dialog) return;
  const fresh = new Set(page.items.map((i) => i.id));
  const oldest = page.items[page.items.length - 1];
  const older = timeline.value.filter(
    (i) => !fresh.has(i.id) && oldest !== undefined && Date.parse(i.at) <= Date.parse(oldest.at),
  );
  timeline.value = [...page.items, ...older];
  if (timelineCursor.value === null && older.length === 0) timelineCursor.value = page.next_cursor ?? null;
}

export async function refreshCard(dialog: string, minSeq?: number): Promise<void> {
  const query = minSeq ? { min_seq: minSeq } : {};
  const next = await ok(api.GET('/v1/dialogs/{dialog}/card', { params: { path: { dialog }, query } }));
  if (openDialog.value === dialog) card.value = next;
}

/** One action on a dialog; answers the log sequence of its events. */
export async function act(dialog: string, action: DialogAction): Promise<number> {
  const answer = await ok(
    api.POST('/v1/dialogs/{dialog}/actions', {
      params: { path: { dialog } },
      body: action,
      headers: { 'idempotency-key': crypto.randomUUID() },
    }),
  );
  return answer.seq;
}

// ---- The admin screens and the profile (issue 18 items 2 and 7) ----

export type Page = 'inbox' | 'admin' | 'profile';

export function pageFromPath(path: string): Page {
  if (path === '/admin') return 'admin';
  if (path === '/profile') return 'profile';
  return 'inbox';
}

/** What the signed-in screen shows under its header: the three panes, the settings or the profile. */
export const page = signal<Page>(pageFromPath(window.location.pathname));

export function goTo(next: Page): void {
  if (page.value === next) return;
  page.value = next;
  const path = next === 'inbox' ? (openDialog.value ? `/dialogs/${openDialog.value}` : '/') : `/${next}`;
  window.history.pushState(null, '', path);
}

/** The project's definitions again, at least as new as `minSeq` (after a change of one). */
export async function reloadProject(minSeq?: number): Promise<void> {
  const query = minSeq ? { min_seq: minSeq } : {};
  project.value = await ok(api.GET('/v1/project', { params: { query } }));
}

/** One project setting (F1.5, F2.5, F7.2, F9, templates); the definitions reloaded after it. */
export async function projectAct(action: ProjectAction): Promise<number> {
  const answer = await ok(
    api.POST('/v1/project/actions', { body: action, headers: { 'idempotency-key': crypto.randomUUID() } }),
  );
  await reloadProject(answer.seq);
  return answer.seq;
}

/** The signed-in person's own settings (`/v1/profile`). */
export const profile = signal<ProfileAnswer | null>(null);

/** Reads the profile and applies its language (kept on the server: the same on every device). */
export async function loadProfile(): Promise<void> {
  const answer = await ok(api.GET('/v1/profile'));
  profile.value = answer;
  if (answer.language) setLang(answer.language);
}

/** Changes the profile; the language takes effect at once. */
export async function saveProfile(change: ProfileChange): Promise<void> {
  const answer = await ok(api.PATCH('/v1/profile', { body: change }));
  profile.value = answer;
  if (answer.language) setLang(answer.language);
  else if (change.language === null) followBrowserLang();
}

/** On a narrow window, the open dialog's card shown instead of its conversation. */
export const cardShown = signal(false);
// The list pane's tools (F2, F6): the applied filter, the rows picked for a bulk action, the
// search hit to show in the timeline.

/** The filter the list is asked with (the panel's, applied), in the API's JSON form. */
export const listFilter = signal<FilterNode | null>(null);
/** Rows picked for a bulk action, by dialog id. */
export const picked = signal<ReadonlySet<string>>(new Set());
/** Every dialog that matches the list (not only the loaded rows) is picked. */
export const pickedAll = signal(false);
/** The last row picked by a click or `x` (where a shift-click's range starts). */
export const pickAnchor = signal<number | null>(null);
/** The bulk job this page started (F6), as last heard from its route or the live stream. */
export const job = signal<JobView | null>(null);
/** The timeline entry a search hit opened, shown highlighted. */
export const highlight = signal<{ dialog: string; item: string } | null>(null);

export function clearPicked(): void {
  picked.value = new Set();
  pickedAll.value = false;
  pickAnchor.value = null;
}

/** Opens a dialog with its timeline around one entry (a message hit, F2.1), highlighted. */
export async function openAt(dialog: string, item: string): Promise<void> {
  await open(dialog, { push: true, around: item });
}

/**
 * The open dialog's timeline around an entry's id or a moment, joined up to the newest (live
 * entries join at its newest end; a place further back than that is shown all the same), with
 * the entry — or the first one at or after the moment — highlighted.
 */
async function showAround(dialog: string, around: string): Promise<void> {
  const page = await ok(
    api.GET('/v1/dialogs/{dialog}/timeline', { params: { path: { dialog }, query: { around, limit: 100 } } }),
  );
  const items = [...page.items];
  let newer = page.newer_cursor ?? null;
  for (let pages = 0; newer && pages < AROUND_NEWER_PAGES; pages += 1) {
    const next = await ok(
      api.GET('/v1/dialogs/{dialog}/timeline', { params: { path: { dialog }, query: { after: newer, limit: 200 } } }),
    );
    const known = new Set(items.map((i) => i.id));
    items.unshift(...next.items.filter((i) => !known.has(i.id)));
    newer = next.newer_cursor ?? null;
  }
  if (openDialog.value !== dialog) return;
  timeline.value = items;
  timelineCursor.value = page.next_cursor ?? null;
  const target = /^[0-9a-f-]{36}$/i.test(around)
    ? around
    : [...items].reverse().find((i) => Date.parse(i.at) >= Date.parse(around))?.id;
  if (target) highlight.value = { dialog, item: target };
}

/** Pages (200 items each) loaded after a search hit's place to reach the newest. */
const AROUND_NEWER_PAGES = 10;

/** A click on a row's box (a shift-click: the range from the last one picked), or `x`. */
export function pickRow(index: number, extend: boolean): void {
  const ids = list.value.ids;
  const id = ids[index];
  if (id === undefined) return;
  if (pickedAll.value) {
    // From "everything that matches" back to the loaded rows, less this one.
    picked.value = new Set(ids);
    pickedAll.value = false;
  }
  picked.value = extend ? range(picked.value, ids, pickAnchor.value, index) : toggle(picked.value, id);
  pickAnchor.value = index;
}
