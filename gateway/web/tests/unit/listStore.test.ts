import { describe, expect, it } from 'vitest';
import type { DialogItem } from '../../src/api/types';
import { appendPage, applyRow, belongs, emptyList, removeRow, type View } from '../../src/lib/listStore';

const ME = '00000000-0000-4000-8000-0000000000aa';
const OTHER = '00000000-0000-4000-8000-0000000000bb';

function row(n: number, minutesAgo: number, extra: Partial<DialogItem> = {}): DialogItem {
  return {
    dialog: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    title: `Client ${n}`,
    client: { name: `Client ${n}`, number: n, created_at: '2026-01-01T00:00:00Z' } as DialogItem['client'],
    last_message: null,
    last_activity_at: new Date(Date.UTC(2026, 11, 7, 12, 0) - minutesAgo * 60_000).toISOString(),
    assignee: null,
    closed: false,
    blocked: false,
    blacklisted: false,
    bot_paused: false,
    pinned: false,
    unanswered: false,
    waiting_since: null,
    unread: false,
    unread_messages: 0,
    draft: null,
    tags: [],
    ...extra,
  };
}

const all: View = { tab: 'all', folder: 'all', archived: false, order: 'activity', me: ME };
const titles = (s: typeof emptyList) => s.ids.map((id) => s.rows[id]?.title);

describe('belongs', () => {
  it('follows the tabs, the archived switch and the built-in folders', () => {
    expect(belongs(row(1, 0, { closed: true }), all)).toBe(false);
    expect(belongs(row(1, 0, { closed: true }), { ...all, archived: true })).toBe(true);
    expect(belongs(row(1, 0, { assignee: ME }), { ...all, tab: 'mine' })).toBe(true);
    expect(belongs(row(1, 0, { assignee: OTHER }), { ...all, tab: 'mine' })).toBe(false);
    expect(belongs(row(1, 0, { assignee: OTHER }), { ...all, tab: 'others' })).toBe(true);
    expect(belongs(row(1, 0), { ...all, tab: 'free' })).toBe(true);
    expect(belongs(row(1, 0), { ...all, tab: 'unanswered' })).toBe(false);
    expect(belongs(row(1, 0, { bot_paused: true }), { ...all, folder: 'with_operator' })).toBe(true);
    expect(belongs(row(1, 0), { ...all, folder: '7b0e8c1e-0000-4000-8000-000000000001' })).toBeNull();
  });

  it('under a filter, tells only what the tab, switch and folder refuse', () => {
    const filtered = { ...all, filtered: true };
    expect(belongs(row(1, 0), filtered)).toBeNull();
    expect(belongs(row(1, 0, { closed: true }), filtered)).toBe(false);
    expect(belongs(row(1, 0, { assignee: OTHER }), { ...filtered, tab: 'free' })).toBe(false);
    expect(belongs(row(1, 0), { ...filtered, folder: 'with_operator' })).toBe(false);
    // A row the list does not hold is not added by a live event; one it holds is updated.
    const held = appendPage(emptyList, [row(1, 5)], true);
    expect(applyRow(emptyList, row(2, 0), filtered).ids).toEqual([]);
    expect(applyRow(held, row(1, 0, { title: 'Renamed' }), filtered).rows[row(1, 0).dialog]?.title).toBe('Renamed');
  });
});

describe('applyRow', () => {
  const page = appendPage(emptyList, [row(1, 1), row(2, 5), row(3, 9)], true);

  it('moves a dialog with new activity to the top', () => {
    const next = applyRow(page, row(3, 0), all);
    expect(titles(next)).toEqual(['Client 3', 'Client 1', 'Client 2']);
  });

  it('inserts a new dialog where the order puts it, pinned ones first', () => {
    const next = applyRow(page, row(4, 3), all);
    expect(titles(next)).toEqual(['Client 1', 'Client 4', 'Client 2', 'Client 3']);
    const pinned = applyRow(page, row(5, 60, { pinned: true }), all);
    expect(titles(pinned)[0]).toBe('Client 5');
  });

  it('updates a row in place when its position holds', () => {
    const next = applyRow(page, row(2, 5, { unread_messages: 3 }), all);
    expect(titles(next)).toEqual(['Client 1', 'Client 2', 'Client 3']);
    expect(next.rows[row(2, 0).dialog]?.unread_messages).toBe(3);
  });

  it('removes a dialog that left the view (closed, reassigned away from *Mine*)', () => {
    expect(titles(applyRow(page, row(2, 0, { closed: true }), all))).toEqual(['Client 1', 'Client 3']);
    const mine = appendPage(emptyList, [row(1, 1, { assignee: ME })], true);
    expect(applyRow(mine, row(1, 0, { assignee: OTHER }), { ...all, tab: 'mine' }).ids).toEqual([]);
  });

  it('leaves a row older than the loaded pages to the page that carries it', () => {
    const partial = appendPage(emptyList, [row(1, 1), row(2, 5)], false);
    expect(applyRow(partial, row(9, 100), all).ids).toHaveLength(2);
    expect(applyRow(partial, row(9, 0), all).ids).toHaveLength(3);
  });

  it('does not add to a custom folder a row it cannot place, but updates one it shows', () => {
    const view = { ...all, folder: '7b0e8c1e-0000-4000-8000-000000000001' };
    expect(applyRow(page, row(7, 0), view)).toBe(page);
    expect(applyRow(page, row(1, 0, { pinned: true }), view).rows[row(1, 0).dialog]?.pinned).toBe(true);
  });
});

describe('appendPage and removeRow', () => {
  it('appends without duplicates and removes by id', () => {
    const first = appendPage(emptyList, [row(1, 1), row(2, 2)], false);
    const second = appendPage(first, [row(2, 2), row(3, 3)], true);
    expect(second.ids).toHaveLength(3);
    expect(second.complete).toBe(true);
    expect(titles(removeRow(second, row(2, 0).dialog))).toEqual(['Client 1', 'Client 3']);
    expect(removeRow(second, 'unknown')).toBe(second);
  });
});
