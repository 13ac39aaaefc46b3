// The open dialog's history (F13), in the conversation pane: its audit trail — who did what,
// when, each event in words — from `GET /v1/dialogs/{id}/events` (paged), and the dialog as it
// was at any past moment from `GET /v1/dialogs/{id}/as-of`: a slider whose marks are the
// dialog's events (arrow keys move it a mark at a time; requests wait until it rests), or a
// date and time typed in. A past state is shown read-only and marked so, with a way back. The
// trail takes in what happens while it is open (the live stream's rows of the dialog).

import { batch, signal } from '@preact/signals';
import { useEffect, useMemo, useRef } from 'preact/hooks';
import { api, ok } from '../api/client';
import type { components } from '../api/schema';
import { t, type Key } from '../i18n';
import {
  actorOf,
  localOfMoment,
  markAtOrBefore,
  marksOf,
  momentOfLocal,
  sentence,
  type AuditEvent,
  type Mark,
  type Names,
} from '../lib/audit';
import { named } from '../lib/serviceEntry';
import { debounce } from '../lib/debounce';
import { Entry } from './TimelineEntry';
import { openRow } from '../state';
import { Term, messageOf } from './Form';
import { fullTime } from './format';
import { projectNames } from './names';

type AsOfAnswer = components['schemas']['AsOfAnswer'];

/** How long the slider rests before the dialog at its moment is asked for. */
const SLIDER_DELAY_MS = 300;
/** Log messages asked for in one page of events. */
const EVENTS_PAGE = 500;
/** Pages read at once; more wait for a click. */
const PAGES_AT_ONCE = 10;
/** Trail entries shown at first, and added by each "earlier". */
const SHOWN_STEP = 100;

/** The dialog whose history the conversation pane shows (null: its conversation). */
export const historyOf = signal<string | null>(null);

interface Trail {
  dialog: string;
  events: AuditEvent[];
  nextAfter: number | null;
  loading: boolean;
  error: string | null;
}

const trail = signal<Trail | null>(null);
const shown = signal(SHOWN_STEP);
/** The slider's mark (an index into the marks). */
const position = signal(0);

interface Past {
  dialog: string;
  moment: string;
  answer: AsOfAnswer | null;
  error: string | null;
}

/** The past state shown (null: none, the trail alone). */
const past = signal<Past | null>(null);
let asked = 0;

/** Up to `pages` more pages of events, after `after` (else where the trail stopped). */
/** A live change came while a page was loading: the newer events are asked for after it. */
let newerPending = false;

async function loadEvents(dialog: string, pages: number, after?: number): Promise<void> {
  const current = trail.value;
  if (!current || current.dialog !== dialog) return;
  if (current.loading) {
    if (after !== undefined) newerPending = true;
    return;
  }
  trail.value = { ...current, loading: true, error: null };
  let { events } = current;
  let nextAfter = after ?? current.nextAfter;
  try {
    for (let page = 0; page < pages; page += 1) {
      const answer = await ok(
        api.GET('/v1/dialogs/{dialog}/events', {
          params: { path: { dialog }, query: { limit: EVENTS_PAGE, ...(nextAfter ? { after: nextAfter } : {}) } },
        }),
      );
      events = [...events, ...(answer.events as AuditEvent[])];
      nextAfter = answer.next_after ?? null;
      if (nextAfter === null) break;
    }
    if (trail.value?.dialog !== dialog) return;
    const wasLast = position.value >= marksOf(trail.value.events).length - 1;
    batch(() => {
      trail.value = { dialog, events, nextAfter, loading: false, error: null };
      // The slider stays at the newest mark unless moved away from it.
      if (wasLast || past.value === null) position.value = Math.max(0, marksOf(events).length - 1);
    });
  } catch (error) {
    if (trail.value?.dialog === dialog) trail.value = { ...trail.value, loading: false, error: messageOf(error) };
  }
  if (newerPending) {
    newerPending = false;
    newerEvents(dialog);
  }
}

/** Events newer than the trail's (the live stream said the dialog changed). */
function newerEvents(dialog: string): void {
  const current = trail.value;
  const last = current?.events[current.events.length - 1]?.seq;
  if (current?.dialog !== dialog || current.nextAfter !== null || last === undefined) return;
  void loadEvents(dialog, PAGES_AT_ONCE, last);
}

/** Opens the history of a dialog (its first pages of events). */
export function openHistory(dialog: string): void {
  batch(() => {
    historyOf.value = dialog;
    trail.value = { dialog, events: [], nextAfter: null, loading: false, error: null };
    shown.value = SHOWN_STEP;
    position.value = 0;
    past.value = null;
  });
  void loadEvents(dialog, PAGES_AT_ONCE);
}

/** Back to the live dialog: its conversation, no past state. */
export function closeHistory(): void {
  asked += 1;
  batch(() => {
    historyOf.value = null;
    past.value = null;
    trail.value = null;
  });
}

/** Shows the dialog as of `moment` (the answer to the newest request wins). */
async function showAt(dialog: string, moment: string): Promise<void> {
  const mine = (asked += 1);
  past.value = { dialog, moment, answer: past.value?.dialog === dialog ? past.value.answer : null, error: null };
  try {
    const answer = await ok(
      api.GET('/v1/dialogs/{dialog}/as-of', { params: { path: { dialog }, query: { as_of: moment, limit: 100 } } }),
    );
    if (mine === asked) past.value = { dialog, moment, answer, error: null };
  } catch (error) {
    if (mine === asked) past.value = { dialog, moment, answer: null, error: messageOf(error) };
  }
}

function EventLine({ event, look, mark, current }: { event: AuditEvent; look: Names; mark: number; current: boolean }) {
  const who = actorOf(event.actor, look);
  const said = sentence(event, look, t(who.key as Key, who.vars));
  const text = t(said.key as Key, said.vars);
  const at = event.occurred_at ?? event.appended_at;
  const dialog = trail.value?.dialog ?? '';
  return (
    <li class={current ? 'event current' : 'event'} aria-current={current ? 'true' : undefined}>
      <time dateTime={at}>{fullTime(at)}</time>
      <span class="event-text">{text}</span>
      <button
        class="link"
        aria-label={t('history.show_then_of', { what: text })}
        onClick={() => {
          position.value = mark;
          void showAt(dialog, event.appended_at);
        }}
      >
        {t('history.show_then')}
      </button>
    </li>
  );
}

function Slider({ dialog, marks }: { dialog: string; marks: readonly Mark[] }) {
  const ask = useMemo(() => debounce((moment: string) => void showAt(dialog, moment), SLIDER_DELAY_MS), [dialog]);
  useEffect(() => () => ask.cancel(), [ask]);
  const index = Math.min(position.value, marks.length - 1);
  const mark = marks[index];
  const moment = past.value?.dialog === dialog ? past.value.moment : (mark?.at ?? '');
  if (!mark) return null;
  return (
    <div class="history-controls">
      <label for="history-slider">{t('history.slider')}</label>
      <input
        id="history-slider"
        type="range"
        min={0}
        max={marks.length - 1}
        step={1}
        value={index}
        list="history-marks"
        aria-valuetext={t('history.slider_value', { at: fullTime(mark.at, true), n: index + 1, total: marks.length })}
        onInput={(e) => {
          const next = Number((e.currentTarget as HTMLInputElement).value);
          const to = marks[next];
          if (!to) return;
          position.value = next;
          // The state is shown as soon as the slider rests, not at every mark it passes.
          past.value = { dialog, moment: to.at, answer: past.value?.answer ?? null, error: null };
          ask(to.at);
        }}
      />
      <datalist id="history-marks">
        {marks.map((m, i) => (
          <option key={m.seq} value={i} />
        ))}
      </datalist>
      <div class="history-moment">
        <label for="history-moment">{t('history.moment')}</label>
        <input
          id="history-moment"
          type="datetime-local"
          value={localOfMoment(moment)}
          onChange={(e) => {
            const at = momentOfLocal((e.currentTarget as HTMLInputElement).value);
            if (!at) return;
            ask.cancel();
            position.value = Math.max(0, markAtOrBefore(marks, at));
            void showAt(dialog, at);
          }}
        />
        <button type="button" class="primary" onClick={closeHistory}>
          {t('history.live')}
        </button>
      </div>
    </div>
  );
}

function Row({ answer }: { answer: AsOfAnswer }) {
  const look = projectNames();
  const row = answer.row;
  const c = answer.card;
  if (!row) return <p class="history-note">{t('history.not_yet')}</p>;
  const marks = [
    row.pinned && t('row.pinned'),
    row.blocked && t('row.blocked'),
    row.blacklisted && t('history.blacklisted'),
    row.bot_paused && t('row.bot_paused'),
  ].filter(Boolean);
  const tags = (c?.tags ?? row.tags).map((id) => look.tag(id) ?? id);
  const stage = c?.deal ? look.stage(c.deal.stage) : null;
  return (
    <div class="past-facts">
      <section aria-labelledby="past-row">
        <h3 id="past-row">{t('history.row')}</h3>
        <dl>
          <dt>{t('history.status')}</dt>
          <dd>
            {row.closed ? t('history.status_closed') : t('history.status_open')}
            {marks.length > 0 && ` · ${marks.join(' · ')}`}
          </dd>
          <dt>{t('history.assignee')}</dt>
          <dd>{row.assignee ? named(row.assignee, look.operator) : t('action.unassigned')}</dd>
          <dt>{t('card.tags')}</dt>
          <dd>{tags.length ? tags.join(', ') : t('card.none')}</dd>
        </dl>
      </section>
      {c && (
        <section aria-labelledby="past-card">
          <h3 id="past-card">{t('history.card')}</h3>
          <dl>
            <dt>{t('card.id')}</dt>
            <dd>#{c.number}</dd>
            <Term label={t('history.client')} value={c.profile.name} />
            <Term label={t('card.phone')} value={c.profile.phone} />
            <Term label={t('card.email')} value={c.profile.email} />
            <dt>{t('card.variables')}</dt>
            <dd>{c.variables.length ? c.variables.map((v) => `${v.name}: ${v.value}`).join('; ') : t('card.none')}</dd>
            <dt>{t('card.lists')}</dt>
            <dd>{c.lists.length ? c.lists.map((id) => look.list(id) ?? id).join(', ') : t('card.none')}</dd>
            <dt>{t('card.folders')}</dt>
            <dd>{c.folders.length ? c.folders.map((id) => look.folder(id) ?? id).join(', ') : t('card.none')}</dd>
            <dt>{t('card.stage')}</dt>
            <dd>{stage ?? t('card.none')}</dd>
          </dl>
        </section>
      )}
    </div>
  );
}

function PastState({ state }: { state: Past }) {
  const answer = state.answer;
  // The newest entries of that moment in view, as the live timeline shows its newest.
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    if (list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [answer]);
  return (
    <section class="past" aria-labelledby="past-title">
      <p id="past-title" class="past-banner" role="status">
        {t('history.past', { at: fullTime(state.moment, true) })}
      </p>
      {state.error && (
        <p class="form-error" role="alert">
          {state.error}
        </p>
      )}
      {!answer && !state.error && <p class="muted">{t('history.busy')}</p>}
      {answer && <Row answer={answer} />}
      {answer?.row && (
        <section aria-labelledby="past-timeline">
          <h3 id="past-timeline">{t('history.timeline')}</h3>
          {answer.timeline.length ? (
            <ol class="past-timeline" ref={list} tabIndex={0} aria-labelledby="past-timeline">
              {[...answer.timeline].reverse().map((item) => (
                <Entry key={item.id} item={item} />
              ))}
            </ol>
          ) : (
            <p class="muted">{t('history.nothing')}</p>
          )}
        </section>
      )}
    </section>
  );
}

export function History({ dialog }: { dialog: string }) {
  const state = trail.value;
  const events = state?.dialog === dialog ? state.events : [];
  const marks = useMemo(() => marksOf(events), [events]);
  // Each trail row's mark, and the names, found once per render rather than per row.
  const markOf = useMemo(() => new Map(marks.map((m, i) => [m.seq, i])), [marks]);
  const look = projectNames();
  const newest = useMemo(() => [...events].reverse().slice(0, shown.value), [events, shown.value]);
  const then = past.value?.dialog === dialog ? past.value : null;
  // The live stream's row of this dialog: something happened, the trail takes it in.
  const live = openRow.value?.dialog === dialog ? openRow.value : null;
  useEffect(() => newerEvents(dialog), [live]);
  return (
    <div class="history" role="region" aria-label={t('history.label')}>
      <Slider dialog={dialog} marks={marks} />
      {then && <PastState state={then} />}
      <section class="trail" aria-labelledby="trail-title">
        <h2 id="trail-title">{t('history.trail')}</h2>
        {state?.error && (
          <p class="form-error" role="alert">
            {state.error}
          </p>
        )}
        {state?.loading && events.length === 0 && <p class="muted">{t('history.loading')}</p>}
        {!state?.loading && !state?.error && events.length === 0 && <p class="muted">{t('history.empty')}</p>}
        <ol class="events">
          {newest.map((e) => {
            const mark = markOf.get(e.seq) ?? -1;
            return (
              <EventLine
                key={`${e.seq}.${e.index}`}
                event={e}
                look={look}
                mark={mark}
                current={past.value !== null && position.value === mark}
              />
            );
          })}
        </ol>
        {events.length > newest.length && (
          <button type="button" onClick={() => (shown.value += SHOWN_STEP)}>
            {t('history.earlier')}
          </button>
        )}
        {state?.nextAfter != null && (
          <>
            <p class="hint">{t('history.capped', { n: events.length })}</p>
            <button type="button" disabled={state.loading} onClick={() => void loadEvents(dialog, PAGES_AT_ONCE)}>
              {t('history.more')}
            </button>
          </>
        )}
      </section>
    </div>
  );
}
