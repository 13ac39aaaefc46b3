import { describe, expect, it } from 'vitest';
import { dictionaries, translate, type Key, type Lang } from '../../src/i18n';
import {
  actorOf,
  localOfMoment,
  markAtOrBefore,
  marksOf,
  momentOfLocal,
  quote,
  sentence,
  type AuditEvent,
  type Names,
} from '../../src/lib/audit';

const OLGA = '0197a000-0000-7000-8000-000000000001';
const names: Names = {
  operator: (id) => (id === OLGA ? 'Ольга' : null),
  tag: (id) => ({ t1: 'VIP', t2: 'Опт' })[id] ?? null,
  stage: (id) => (id === 's1' ? 'Won' : null),
  list: (id) => (id === 'l1' ? 'Newsletter' : null),
  folder: (id) => (id === 'f1' ? 'Escalations' : null),
  channel: (id) => (id === 'c1' ? 'Shop bot' : null),
};

let seq = 0;
function event(type: string, fields: Record<string, unknown> = {}, actor: unknown = { operator: OLGA }): AuditEvent {
  seq += 1;
  return { seq, index: 0, appended_at: '2026-12-07T10:00:00.000001Z', type, actor, ...fields };
}

function words(e: AuditEvent, lang: Lang = 'en'): string {
  const who = actorOf(e.actor, names);
  const said = sentence(e, names, translate(lang, who.key as Key, who.vars));
  return translate(lang, said.key as Key, said.vars);
}

describe('an event as a sentence', () => {
  it('names who did it: an operator by name, the client, the bot, a channel, the system', () => {
    expect(words(event('dialog.closed'))).toBe('Ольга closed the dialog');
    expect(words(event('dialog.closed', {}, 'client'))).toBe('The client closed the dialog');
    expect(words(event('bot.paused', {}, 'bot'), 'ru')).toBe('Бот поставил(а) бота на паузу');
    expect(words(event('message.sent', { message: 'm' }, { connector: 'c1' }))).toBe('Channel Shop bot sent the reply');
    expect(words(event('dialog.pinned', {}, 'system'))).toBe('Switchboard pinned the dialog');
    // An operator nobody can name (removed since): the id's start, not a blank.
    expect(words(event('dialog.closed', {}, { operator: '0197ffff-aaaa' }))).toBe('0197ffff closed the dialog');
  });

  it('puts the payload in words: messages quoted, ids named, the reopen cause said', () => {
    // A message in is the client's, though its connector appended it.
    const inbound = { channel: 'c1', text: 'Where is my order?', attachments: [] };
    expect(words(event('message.received', inbound, { connector: 'c1' }))).toBe(
      'The client wrote through Shop bot: “Where is my order?”',
    );
    expect(words(event('message.received', { channel: 'c1', text: '', attachments: [{}, {}] }, 'client'), 'ru')).toBe(
      'Клиент прислал вложения через Shop bot: 2',
    );
    expect(words(event('message.queued', { text: 'It ships today', attachments: [] }))).toBe('Ольга replied: “It ships today”');
    expect(words(event('dialog.assigned', { operator: OLGA, previous: null }), 'ru')).toBe('Ольга назначил(а) диалог: Ольга');
    expect(words(event('tags.added', { tags: ['t1', 't2'] }))).toBe('Ольга added the tags VIP, Опт');
    expect(words(event('lists.joined', { lists: ['l1'] }))).toBe('Ольга added the client to the lists Newsletter');
    expect(words(event('folders.left', { folders: ['f1'] }))).toBe('Ольга took the dialog out of the folders Escalations');
    expect(words(event('variable.set', { name: 'city', value: 'Казань' }))).toBe('Ольга set city to “Казань”');
    expect(words(event('deal.stage_changed', { pipeline: 'p', stage: 's1', previous: null }))).toBe(
      'Ольга moved the deal to the stage Won',
    );
    expect(words(event('deal.updated', { line: 0, channel: null, sales_sum_minor: 123450, sales_count: 2 }))).toBe(
      'Ольга updated the deal: 2 sales for 1234.50',
    );
    expect(words(event('dialog.reopened', { cause: 'inbound_message' }, 'client'))).toBe('The dialog reopened: the client wrote');
    expect(words(event('dialog.reopened', { cause: 'operator' }))).toBe('Ольга reopened the dialog');
    expect(words(event('dialog.read_marked', { operator: OLGA, up_to: null }))).toBe('Ольга read the dialog');
    expect(words(event('message.failed', { message: 'm', reason: 'blocked_by_client', detail: 'x' }, 'system'))).toBe(
      'The reply was not delivered: blocked_by_client',
    );
    expect(words(event('dialog.registered', { identity: { channel: 'c1', kind: 'telegram', external_id: '42' } }, 'client'))).toBe(
      'The client started the dialog through Shop bot',
    );
    expect(words(event('dialog.registered', { identity: null }))).toBe('Ольга added the client');
    expect(words(event('message.resent', { message: 'm' }))).toBe('Ольга sent the undelivered reply again');
  });

  it('never shows a draft’s text, and keeps a long text short', () => {
    expect(words(event('draft.saved', { operator: OLGA, text: 'a secret reply' }))).toBe('Ольга saved a draft');
    const long = 'слово '.repeat(40);
    const q = quote(long);
    expect(q.length).toBe(80);
    expect(q.endsWith('…')).toBe(true);
  });

  it('has a sentence in both languages for every event type of a dialog, and a fallback', () => {
    const types = [
      'dialog.registered', 'client.profile_updated', 'identity.linked', 'identity.unlinked', 'dialog.merged',
      'dialog.merged_into', 'message.received', 'message.queued', 'message.sent', 'message.delivered', 'message.read',
      'message.failed', 'note.added', 'dialog.assigned', 'dialog.unassigned', 'dialog.closed', 'dialog.reopened',
      'dialog.pinned', 'dialog.unpinned', 'client.blocked', 'client.unblocked', 'client.blacklisted',
      'client.unblacklisted', 'bot.paused', 'bot.resumed', 'bot.scenario_started', 'dialog.read_marked',
      'dialog.marked_unread', 'tags.added', 'tags.removed', 'lists.joined', 'lists.left', 'folders.joined',
      'folders.left', 'variable.set', 'variable.cleared', 'deal.stage_changed', 'deal.updated', 'task.created',
      'task.completed', 'funnel.block_entered', 'draft.saved', 'draft.cleared', 'client.deleted', 'message.edited',
      'message.reaction_set',
    ];
    for (const type of types) {
      const said = sentence(event(type, { text: 'x', reaction: '👍', cause: 'outbound_message' }), names, 'W');
      expect(said.key, type).not.toBe('audit.other');
      for (const lang of ['en', 'ru'] as const) {
        expect(dictionaries[lang][said.key as Key], `${lang} ${said.key}`).toBeTruthy();
        expect(translate(lang, said.key as Key, said.vars), `${lang} ${type}`).not.toMatch(/\{\w+\}/);
      }
    }
    expect(words(event('something.new'))).toBe('Ольга: something.new');
  });
});

describe('the slider’s marks', () => {
  const at = (micros: string) => `2026-12-07T10:00:00.${micros}Z`;
  const events: AuditEvent[] = [
    { seq: 3, index: 0, appended_at: at('000100'), type: 'dialog.registered' },
    { seq: 3, index: 1, appended_at: at('000100'), type: 'message.received' },
    { seq: 9, index: 0, appended_at: at('000250'), type: 'dialog.assigned' },
    { seq: 12, index: 0, appended_at: at('900000'), type: 'message.queued' },
  ];

  it('are one per log message, oldest first, at the moment the log stored it', () => {
    expect(marksOf(events)).toEqual([
      { seq: 3, at: at('000100') },
      { seq: 9, at: at('000250') },
      { seq: 12, at: at('900000') },
    ]);
    expect(marksOf([])).toEqual([]);
  });

  it('find the last mark at or before a moment, to the microsecond', () => {
    const marks = marksOf(events);
    expect(markAtOrBefore(marks, '2026-12-07T09:59:59Z')).toBe(-1);
    expect(markAtOrBefore(marks, at('000100'))).toBe(0);
    // Within the same millisecond: 000249 is before the second mark, 000250 is at it.
    expect(markAtOrBefore(marks, at('000249'))).toBe(0);
    expect(markAtOrBefore(marks, at('000250'))).toBe(1);
    expect(markAtOrBefore(marks, '2026-12-07T10:00:00.5Z')).toBe(1);
    expect(markAtOrBefore(marks, '2026-12-08T00:00:00Z')).toBe(2);
  });

  it('go to and from a date-time input in local time', () => {
    const moment = momentOfLocal('2026-12-07T13:45');
    expect(moment).not.toBeNull();
    expect(localOfMoment(moment as string)).toBe('2026-12-07T13:45');
    expect(momentOfLocal('')).toBeNull();
    expect(momentOfLocal('yesterday')).toBeNull();
    expect(localOfMoment('not a time')).toBe('');
  });
});
