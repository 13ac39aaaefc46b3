// The filter panel's model (F2.2–F2.4, F2.6): the panel's state — groups of conditions joined by
// AND or OR — turned into the filter's JSON form that `GET /v1/dialogs?filter=`,
// `POST /v1/dialogs/query`, `POST /v1/bulk`, the export and saved filters all take, the count of
// active conditions as the API counts them (`active_filters`), and a saved filter parsed back
// into the panel. Pure functions: the unit tests drive them directly.

import type { components } from '../api/schema';

export type FilterNode = components['schemas']['Node'];
export type Join = 'all' | 'any';

/** Every condition the panel offers, one per F2.3 filter. */
export const KINDS = [
  'channels',
  'tags_any',
  'tags_all',
  'tags_none',
  'no_tags',
  'any_tag',
  'assignee',
  'free',
  'status',
  'last_author',
  'unanswered',
  'lists_any',
  'lists_none',
  'deal_stages',
  'funnel_block',
  'variable',
  'client_number',
  'registered_from',
  'registered_before',
  'active_between',
] as const;
export type Kind = (typeof KINDS)[number];

/** What a condition's editor asks for. */
export type Editor = 'none' | 'ids' | 'operator' | 'status' | 'author' | 'date' | 'dates' | 'variable' | 'digits' | 'words';

export const EDITOR: Record<Kind, Editor> = {
  channels: 'ids',
  tags_any: 'ids',
  tags_all: 'ids',
  tags_none: 'ids',
  no_tags: 'none',
  any_tag: 'none',
  assignee: 'operator',
  free: 'none',
  status: 'status',
  last_author: 'author',
  unanswered: 'none',
  lists_any: 'ids',
  lists_none: 'ids',
  deal_stages: 'ids',
  funnel_block: 'words',
  variable: 'variable',
  client_number: 'digits',
  registered_from: 'date',
  registered_before: 'date',
  active_between: 'dates',
};

/**
 * One condition as the panel edits it: `ids` for the pickers (channels, tags, lists, stages),
 * `text` for the one value (an operator, a status, an author, a date `YYYY-MM-DD`, a variable's
 * name, digits, funnel blocks separated by commas), `text2` for the second (the range's last
 * day, a variable's value).
 */
export interface Condition {
  kind: Kind;
  ids: string[];
  text: string;
  text2: string;
}

export interface Group {
  join: Join;
  conditions: Condition[];
}

export interface Panel {
  join: Join;
  groups: Group[];
}

export function condition(kind: Kind): Condition {
  const text = kind === 'status' ? 'open' : kind === 'last_author' ? 'client' : '';
  return { kind, ids: [], text, text2: '' };
}

export function emptyPanel(): Panel {
  return { join: 'all', groups: [{ join: 'all', conditions: [] }] };
}

/** Local midnight of a `YYYY-MM-DD` day as RFC 3339 (UTC), `days` later; null when not a day. */
export function dayStart(day: string, days = 0): string | null {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!match) return null;
  const date = new Date(Number(match[1]), Number(match[2]) - 1, Number(match[3]) + days);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** The local day (`YYYY-MM-DD`) of a moment, `days` later; '' when not a moment. */
function dayOf(moment: string, days = 0): string {
  const date = new Date(moment);
  if (Number.isNaN(date.getTime())) return '';
  date.setDate(date.getDate() + days);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** A condition's node, or null while it is incomplete (it is then left out and not counted). */
function conditionNode(c: Condition): FilterNode | null {
  const ids = c.ids.filter((id) => id !== '');
  switch (c.kind) {
    case 'channels':
      return ids.length ? { channels: ids } : null;
    case 'tags_all':
      return ids.length ? { tags_all: ids } : null;
    case 'tags_none':
      return ids.length ? { tags_none: ids } : null;
    // The API has no "any of these tags": an OR of one-tag conditions says it.
    case 'tags_any':
      return ids.length ? { any: ids.map((id) => ({ tags_all: [id] })) } : null;
    case 'no_tags':
      return 'no_tags';
    case 'any_tag':
      return 'any_tag';
    case 'assignee':
      return c.text ? { assignee: c.text } : null;
    case 'free':
      return { assignee: null };
    case 'status':
      return c.text === 'open' || c.text === 'closed' ? { status: c.text } : null;
    case 'last_author':
      return c.text === 'client' || c.text === 'operator' || c.text === 'bot' ? { last_author: c.text } : null;
    case 'unanswered':
      return 'unanswered';
    case 'lists_any':
      return ids.length ? { lists_any: ids } : null;
    case 'lists_none':
      return ids.length ? { lists_none: ids } : null;
    case 'deal_stages':
      return ids.length ? { deal_stages: ids } : null;
    case 'funnel_block': {
      const blocks = c.text
        .split(',')
        .map((b) => b.trim())
        .filter((b) => b !== '');
      return blocks.length ? { funnel_block: blocks } : null;
    }
    case 'variable': {
      const name = c.text.trim();
      const value = c.text2;
      if (!name && !value) return null;
      return { variable: { ...(name ? { name } : {}), ...(value ? { value } : {}) } };
    }
    case 'client_number': {
      const digits = c.text.trim();
      return /^\d+$/.test(digits) ? { client_number: digits } : null;
    }
    case 'registered_from': {
      const at = dayStart(c.text);
      return at ? { registered_from: at } : null;
    }
    case 'registered_before': {
      const at = dayStart(c.text);
      return at ? { registered_before: at } : null;
    }
    case 'active_between': {
      // Both days count: up to the start of the day after the last one.
      const from = dayStart(c.text);
      const to = dayStart(c.text2, 1);
      return from && to ? { active_between: { from, to } } : null;
    }
  }
}

/**
 * The panel's filter in the API's JSON form: `{"<join>": [group, …]}`, a group of one condition
 * being that condition, else `{"<group's join>": [condition, …]}`. Null when no condition is
 * complete (no filter).
 */
export function buildFilter(panel: Panel): FilterNode | null {
  const parts: FilterNode[] = [];
  for (const group of panel.groups) {
    const nodes = group.conditions.map(conditionNode).filter((n): n is FilterNode => n !== null);
    if (nodes.length === 1) parts.push(nodes[0] as FilterNode);
    else if (nodes.length > 1) parts.push(group.join === 'all' ? { all: nodes } : { any: nodes });
  }
  if (parts.length === 0) return null;
  return panel.join === 'all' ? { all: parts } : { any: parts };
}

/** How many conditions a filter holds, as the API counts them (its `active_filters`). */
export function countConditions(node: FilterNode | null): number {
  if (node === null) return 0;
  if (typeof node === 'object' && 'all' in node) return node.all.reduce((n, p) => n + countConditions(p), 0);
  if (typeof node === 'object' && 'any' in node) return node.any.reduce((n, p) => n + countConditions(p), 0);
  return 1;
}

function groupParts(node: FilterNode): { join: Join; parts: FilterNode[] } | null {
  if (typeof node !== 'object') return null;
  if ('all' in node) return { join: 'all', parts: node.all };
  if ('any' in node) return { join: 'any', parts: node.any };
  return null;
}

/** `{"any":[{"tags_all":[a]}, …]}`: the panel's "any of these tags". */
function tagsAny(node: FilterNode): string[] | null {
  const group = groupParts(node);
  if (!group || group.join !== 'any' || group.parts.length === 0) return null;
  const ids: string[] = [];
  for (const part of group.parts) {
    if (typeof part !== 'object' || !('tags_all' in part) || part.tags_all.length !== 1) return null;
    ids.push(part.tags_all[0] as string);
  }
  return ids;
}

/** A condition node back into the panel's condition; null for a group (not a condition). */
function parseCondition(node: FilterNode): Condition | null {
  const base = (kind: Kind, patch: Partial<Condition> = {}): Condition => ({ ...condition(kind), ...patch });
  if (node === 'no_tags' || node === 'any_tag' || node === 'unanswered') return base(node);
  if (typeof node !== 'object') return null;
  const anyTags = tagsAny(node);
  if (anyTags) return base('tags_any', { ids: anyTags });
  if ('channels' in node) return base('channels', { ids: node.channels });
  if ('tags_all' in node) return base('tags_all', { ids: node.tags_all });
  if ('tags_none' in node) return base('tags_none', { ids: node.tags_none });
  if ('assignee' in node) return node.assignee === null ? base('free') : base('assignee', { text: node.assignee });
  if ('status' in node) return base('status', { text: node.status });
  if ('last_author' in node) return base('last_author', { text: node.last_author });
  if ('lists_any' in node) return base('lists_any', { ids: node.lists_any });
  if ('lists_none' in node) return base('lists_none', { ids: node.lists_none });
  if ('deal_stages' in node) return base('deal_stages', { ids: node.deal_stages });
  if ('funnel_block' in node) return base('funnel_block', { text: node.funnel_block.join(', ') });
  if ('variable' in node) return base('variable', { text: node.variable.name ?? '', text2: node.variable.value ?? '' });
  if ('client_number' in node) return base('client_number', { text: node.client_number });
  if ('registered_from' in node) return base('registered_from', { text: dayOf(node.registered_from) });
  if ('registered_before' in node) return base('registered_before', { text: dayOf(node.registered_before) });
  if ('active_between' in node) {
    return base('active_between', {
      text: dayOf(node.active_between.from),
      text2: dayOf(node.active_between.to, -1),
    });
  }
  return null;
}

/**
 * A filter (a saved one) back into the panel: the top group's parts are the panel's groups, a
 * part that is a group of conditions one group, a condition a group of one. Null when the
 * filter nests deeper than the panel shows (it still applies; the panel cannot edit it).
 */
export function parseFilter(node: FilterNode): Panel | null {
  const top = tagsAny(node) ? null : groupParts(node);
  const join: Join = top?.join ?? 'all';
  const parts = top ? top.parts : [node];
  const groups: Group[] = [];
  for (const part of parts) {
    const single = parseCondition(part);
    if (single) {
      groups.push({ join: 'all', conditions: [single] });
      continue;
    }
    const group = groupParts(part);
    if (!group) return null;
    const conditions: Condition[] = [];
    for (const inner of group.parts) {
      const parsed = parseCondition(inner);
      if (!parsed) return null;
      conditions.push(parsed);
    }
    groups.push({ join: group.join, conditions });
  }
  if (groups.length === 0) return emptyPanel();
  return { join, groups };
}

/** The start of the first activity range in a filter (opening a dialog jumps there, F2.3). */
export function activeFrom(node: FilterNode | null): string | null {
  if (node === null || typeof node !== 'object') return null;
  if ('active_between' in node) return node.active_between.from;
  const parts = 'all' in node ? node.all : 'any' in node ? node.any : [];
  for (const part of parts) {
    const found = activeFrom(part);
    if (found) return found;
  }
  return null;
}
