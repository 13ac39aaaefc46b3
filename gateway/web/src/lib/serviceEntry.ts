// A service entry of the timeline (F3.2) as words: the event's JSON form (`entry`, with its
// `type`) turned into a dictionary key and its values, names looked up by the caller.

export interface Names {
  operator(id: string): string | null;
  tag(id: string): string | null;
  stage(id: string): string | null;
}

export interface Described {
  key: string;
  vars: Record<string, string>;
}

const SIMPLE: Record<string, string> = {
  'dialog.unassigned': 'entry.unassigned',
  'dialog.closed': 'entry.closed',
  'dialog.reopened': 'entry.reopened',
  'dialog.pinned': 'entry.pinned',
  'dialog.unpinned': 'entry.unpinned',
  'client.blocked': 'entry.blocked',
  'client.unblocked': 'entry.unblocked',
  'client.blacklisted': 'entry.blacklisted',
  'client.unblacklisted': 'entry.unblacklisted',
  'bot.paused': 'entry.bot_paused',
  'bot.resumed': 'entry.bot_resumed',
};

/** An id nobody could name, shown short rather than dropped. */
export function shortId(id: unknown): string {
  return String(id ?? '').slice(0, 8);
}

/** The name of an id, else the id shown short. */
export function named(id: unknown, name: (id: string) => string | null): string {
  return name(String(id ?? '')) ?? shortId(id);
}

/** The names of ids, comma-separated (see [`named`]). */
export function list(ids: unknown, name: (id: string) => string | null): string {
  return Array.isArray(ids) ? ids.map((id) => named(id, name)).join(', ') : '';
}

/** `author`: who made the change (an operator's id), when the caller shows it beside the words. */
export function describe(entry: unknown, names: Names, author?: string): Described {
  const e = (entry ?? {}) as Record<string, unknown>;
  const type = typeof e.type === 'string' ? e.type : '';
  const simple = SIMPLE[type];
  if (simple) return { key: simple, vars: {} };
  switch (type) {
    case 'dialog.assigned':
      // "Olga assigned the dialog to Olga" reads as a slip: an operator took it.
      if (author !== undefined && String(e.operator) === author) return { key: 'entry.took', vars: {} };
      return {
        key: 'entry.assigned',
        vars: { name: names.operator(String(e.operator)) ?? shortId(e.operator) },
      };
    case 'tags.added':
      return { key: 'entry.tags_added', vars: { tags: list(e.tags, names.tag) } };
    case 'tags.removed':
      return { key: 'entry.tags_removed', vars: { tags: list(e.tags, names.tag) } };
    case 'funnel.block_entered':
      return { key: 'entry.funnel', vars: { block: String(e.block_name ?? e.block ?? '') } };
    case 'deal.stage_changed':
      return { key: 'entry.stage', vars: { stage: names.stage(String(e.stage)) ?? shortId(e.stage) } };
    default:
      return { key: 'entry.other', vars: { type: type || '?' } };
  }
}
