// The dialog list kept live on the client: pages from `GET /v1/dialogs` appended in order, and
// each live `row`/`message`/`remove` event applied so that the list looks as a reload would
// show it, without one. Pure functions over an immutable state: the UI holds the state in a
// signal, the unit tests drive them directly.

import type { DialogItem, OrderName, TabName } from '../api/types';

export interface View {
  tab: TabName;
  /** `all`, `with_operator` or a custom folder's id. */
  folder: string;
  archived: boolean;
  order: OrderName;
  /** The signed-in operator. */
  me: string;
  /** A filter narrows the list (a row alone cannot tell whether it passes). */
  filtered?: boolean;
}

export interface ListState {
  ids: readonly string[];
  rows: Readonly<Record<string, DialogItem>>;
  /** The server has no page after the last one loaded. */
  complete: boolean;
}

export const emptyList: ListState = { ids: [], rows: {}, complete: false };

/**
 * Whether a row belongs in the view: `true`/`false`, or `null` when the row alone cannot tell
 * (custom folders: the row does not carry its folders).
 */
export function belongs(row: DialogItem, view: View): boolean | null {
  if (row.closed && !view.archived) return false;
  switch (view.tab) {
    case 'unanswered':
      if (!row.unanswered) return false;
      break;
    case 'mine':
      if (row.assignee !== view.me) return false;
      break;
    case 'others':
      if (!row.assignee || row.assignee === view.me) return false;
      break;
    case 'free':
      if (row.assignee) return false;
      break;
    case 'all':
      break;
  }
  if (view.folder === 'with_operator' && !row.bot_paused) return false;
  if (view.filtered) return null;
  if (view.folder === 'all') return true;
  if (view.folder === 'with_operator') return true;
  return null;
}

/** The list's order for `activity`: pinned first, then the latest activity first. */
export function compareByActivity(a: DialogItem, b: DialogItem): number {
  if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
  const at = Date.parse(a.last_activity_at);
  const bt = Date.parse(b.last_activity_at);
  if (at !== bt) return bt - at;
  return a.dialog < b.dialog ? 1 : a.dialog > b.dialog ? -1 : 0;
}

/** Appends a page (rows already present are updated where they are). */
export function appendPage(state: ListState, items: readonly DialogItem[], complete: boolean): ListState {
  const rows = { ...state.rows };
  const ids = [...state.ids];
  for (const item of items) {
    if (!(item.dialog in rows)) ids.push(item.dialog);
    rows[item.dialog] = item;
  }
  return { ids, rows, complete };
}

/** Drops a dialog the caller no longer sees (or that left the view). */
export function removeRow(state: ListState, dialog: string): ListState {
  if (!(dialog in state.rows)) return state;
  const rows = { ...state.rows };
  delete rows[dialog];
  return { ...state, ids: state.ids.filter((id) => id !== dialog), rows };
}

/**
 * Applies a row as the live stream sends it: removed when it left the view, updated in place,
 * or moved to where the order puts it. A row that would land after the last loaded one while
 * more pages exist is left for the page that carries it.
 */
export function applyRow(state: ListState, row: DialogItem, view: View): ListState {
  const fits = belongs(row, view);
  const present = row.dialog in state.rows;
  if (fits === false) return removeRow(state, row.dialog);
  if (fits === null || view.order !== 'activity') {
    if (!present) return state;
    return { ...state, rows: { ...state.rows, [row.dialog]: row } };
  }
  const others = state.ids.filter((id) => id !== row.dialog);
  let at = others.length;
  for (let i = 0; i < others.length; i += 1) {
    const other = state.rows[others[i] as string];
    if (other && compareByActivity(row, other) < 0) {
      at = i;
      break;
    }
  }
  const rows = { ...state.rows };
  if (at === others.length && !state.complete && others.length > 0) {
    delete rows[row.dialog];
    return { ...state, ids: others, rows };
  }
  rows[row.dialog] = row;
  const ids = [...others.slice(0, at), row.dialog, ...others.slice(at)];
  return { ...state, ids, rows };
}
