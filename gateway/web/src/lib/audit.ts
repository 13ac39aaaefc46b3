// A dialog's history (F13) as words and marks: each event of `GET /v1/dialogs/{id}/events`
// (its JSON form: `type`, `actor`, the payload's fields, `appended_at`) turned into a sentence
// key and its values, with names looked up by the caller; and the slider's marks, one for each
// log message, at the moment the log stored it (what `GET /v1/dialogs/{id}/as-of` cuts at).

import { list, named, type Names as EntryNames } from './serviceEntry';

export interface AuditEvent {
  seq: number;
  index: number;
  /** When the log stored the event (RFC 3339, microseconds): `as-of` at it includes it. */
  appended_at: string;
  occurred_at?: string;
  type: string;
  actor?: unknown;
  [field: string]: unknown;
}

export interface Names extends EntryNames {
  list(id: string): string | null;
  folder(id: string): string | null;
  channel(id: string): string | null;
}

export interface Sentence {
  key: string;
  vars: Record<string, string>;
}

/** Longest quoted text in a sentence (a message, a comment, a task). */
const QUOTE_CHARS = 80;

export function quote(text: unknown): string {
  const flat = String(text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > QUOTE_CHARS ? `${flat.slice(0, QUOTE_CHARS - 1)}…` : flat;
}


/** Who caused an event: a dictionary key and its values (`actor` as the event log writes it). */
export function actorOf(actor: unknown, look: Names): Sentence {
  if (actor === 'client') return { key: 'audit.who.client', vars: {} };
  if (actor === 'bot') return { key: 'audit.who.bot', vars: {} };
  if (actor && typeof actor === 'object') {
    const a = actor as Record<string, unknown>;
    if ('operator' in a) return { key: 'audit.who.operator', vars: { name: named(a.operator, look.operator) } };
    if ('connector' in a) return { key: 'audit.who.channel', vars: { name: named(a.connector, look.channel) } };
  }
  return { key: 'audit.who.system', vars: {} };
}

/** Event types whose sentence needs nothing but who did it. */
const PLAIN: Record<string, string> = {
  'client.profile_updated': 'audit.profile_updated',
  'dialog.merged': 'audit.merged',
  'dialog.merged_into': 'audit.merged_into',
  'message.sent': 'audit.message_sent',
  'message.delivered': 'audit.message_delivered',
  'message.read': 'audit.message_read',
  'message.resent': 'audit.message_resent',
  'dialog.closed': 'audit.closed',
  'dialog.pinned': 'audit.pinned',
  'dialog.unpinned': 'audit.unpinned',
  'client.blocked': 'audit.blocked',
  'client.unblocked': 'audit.unblocked',
  'client.blacklisted': 'audit.blacklisted',
  'client.unblacklisted': 'audit.unblacklisted',
  'bot.paused': 'audit.bot_paused',
  'bot.resumed': 'audit.bot_resumed',
  'task.completed': 'audit.task_completed',
  'draft.saved': 'audit.draft_saved',
  'draft.cleared': 'audit.draft_cleared',
  'client.deleted': 'audit.client_deleted',
};

/** Event types that name a set of project things: the sentence and how to name each id. */
const SETS: Record<string, [key: string, field: string, name: keyof Names]> = {
  'tags.added': ['audit.tags_added', 'tags', 'tag'],
  'tags.removed': ['audit.tags_removed', 'tags', 'tag'],
  'lists.joined': ['audit.lists_joined', 'lists', 'list'],
  'lists.left': ['audit.lists_left', 'lists', 'list'],
  'folders.joined': ['audit.folders_joined', 'folders', 'folder'],
  'folders.left': ['audit.folders_left', 'folders', 'folder'],
};

/** The payload's own part of the sentence: its key (with `{who}` in it) and values. */
function what(e: AuditEvent, look: Names): Sentence {
  const plain = PLAIN[e.type];
  if (plain) return { key: plain, vars: {} };
  const set = SETS[e.type];
  if (set) return { key: set[0], vars: { items: list(e[set[1]], look[set[2]]) } };
  const files = Array.isArray(e.attachments) ? e.attachments.length : 0;
  switch (e.type) {
    case 'dialog.registered': {
      const identity = e.identity as { channel?: unknown } | null | undefined;
      return identity?.channel
        ? { key: 'audit.registered_via', vars: { channel: named(identity.channel, look.channel) } }
        : { key: 'audit.registered', vars: {} };
    }
    case 'identity.linked':
    case 'identity.unlinked': {
      const identity = (e.identity ?? {}) as { channel?: unknown; external_id?: unknown };
      return {
        key: e.type === 'identity.linked' ? 'audit.identity_linked' : 'audit.identity_unlinked',
        vars: { channel: named(identity.channel, look.channel), id: String(identity.external_id ?? '') },
      };
    }
    case 'message.received':
      // Always the client's, whichever channel brought it (the event's actor is its connector).
      return String(e.text ?? '').trim()
        ? { key: 'audit.received', vars: { channel: named(e.channel, look.channel), text: quote(e.text) } }
        : { key: 'audit.received_files', vars: { channel: named(e.channel, look.channel), n: String(files) } };
    case 'message.queued':
    case 'message.edited':
      if (!String(e.text ?? '').trim()) {
        return { key: `audit.${e.type.slice(8)}_files`, vars: { n: String(files) } };
      }
      return { key: `audit.${e.type.slice(8)}`, vars: { text: quote(e.text) } };
    case 'message.failed':
      return { key: 'audit.message_failed', vars: { reason: String(e.reason ?? '') } };
    case 'message.reaction_set':
      return String(e.reaction ?? '')
        ? { key: 'audit.reaction', vars: { reaction: String(e.reaction) } }
        : { key: 'audit.reaction_removed', vars: {} };
    case 'note.added':
      return { key: 'audit.note', vars: { text: quote(e.text) } };
    case 'dialog.assigned':
      return { key: 'audit.assigned', vars: { name: named(e.operator, look.operator) } };
    case 'dialog.unassigned':
      return { key: 'audit.unassigned', vars: { name: named(e.previous, look.operator) } };
    case 'dialog.reopened': {
      const cause = String(e.cause ?? 'operator');
      return { key: cause === 'operator' ? 'audit.reopened' : `audit.reopened_${cause}`, vars: {} };
    }
    case 'bot.scenario_started':
      return { key: 'audit.scenario', vars: { scenario: String(e.scenario ?? '') } };
    case 'dialog.read_marked':
      return { key: 'audit.read_marked', vars: { name: named(e.operator, look.operator) } };
    case 'dialog.marked_unread':
      return { key: 'audit.marked_unread', vars: { name: named(e.operator, look.operator) } };
    case 'variable.set':
      return { key: 'audit.variable_set', vars: { name: String(e.name ?? ''), value: quote(e.value) } };
    case 'variable.cleared':
      return { key: 'audit.variable_cleared', vars: { name: String(e.name ?? '') } };
    case 'deal.stage_changed':
      return { key: 'audit.stage', vars: { stage: named(e.stage, look.stage) } };
    case 'deal.updated':
      return {
        key: 'audit.deal_updated',
        vars: { count: String(e.sales_count ?? 0), sum: (Number(e.sales_sum_minor ?? 0) / 100).toFixed(2) },
      };
    case 'task.created':
      return { key: 'audit.task_created', vars: { text: quote(e.text) } };
    case 'funnel.block_entered':
      return { key: 'audit.funnel', vars: { block: String(e.block_name || e.block || '') } };
    default:
      return { key: 'audit.other', vars: { type: e.type || '?' } };
  }
}

/** An event as a sentence: its key (`{who}` in it names the actor) and every value. */
export function sentence(event: AuditEvent, look: Names, who: string): Sentence {
  const said = what(event, look);
  return { key: said.key, vars: { ...said.vars, who } };
}

/** A slider's mark: one log message of the dialog, at the moment the log stored it. */
export interface Mark {
  seq: number;
  at: string;
}

/** The marks of the events, oldest first, one for each log message. */
export function marksOf(events: readonly AuditEvent[]): Mark[] {
  const marks: Mark[] = [];
  for (const e of events) {
    if (marks[marks.length - 1]?.seq === e.seq) continue;
    marks.push({ seq: e.seq, at: e.appended_at });
  }
  return marks;
}

/** An RFC 3339 moment in microseconds (marks carry them; `Date` keeps milliseconds). */
function microsOf(moment: string): number {
  const fraction = /\.(\d+)/.exec(moment)?.[1] ?? '';
  return Date.parse(moment) * 1000 + Number(fraction.padEnd(6, '0').slice(3, 6));
}

/** The last mark at or before a moment; -1 when every mark is later. */
export function markAtOrBefore(marks: readonly Mark[], moment: string): number {
  const at = microsOf(moment);
  let found = -1;
  for (const [i, mark] of marks.entries()) {
    if (microsOf(mark.at) > at) break;
    found = i;
  }
  return found;
}

/** A `datetime-local` input's value (the browser's local time) as an RFC 3339 moment, or null. */
export function momentOfLocal(value: string): string | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return null;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

/** A moment as a `datetime-local` input shows it (local time, to the minute). */
export function localOfMoment(moment: string): string {
  const at = new Date(moment);
  if (Number.isNaN(at.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())}T${pad(at.getHours())}:${pad(at.getMinutes())}`;
}
