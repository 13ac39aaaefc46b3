// The search box (F2.1): clients by name, phone, email or channel id, and messages by their
// words (`GET /v1/search`, both targets at once), as the operator types. A client hit opens its
// dialog; a message hit opens the dialog's timeline at that message, highlighted.

import { signal } from '@preact/signals';
import { useMemo } from 'preact/hooks';
import { api, ok } from '../api/client';
import type { SearchHit as Hit } from '../api/types';
import { t } from '../i18n';
import { debounce } from '../lib/debounce';
import { highlightParts } from '../lib/highlight';
import { open, openAt } from '../state';
import { shortTime } from './format';
import { messageOf } from './Form';

const query = signal('');
const clients = signal<Hit[]>([]);
const messages = signal<Hit[]>([]);
const busy = signal(false);
const failed = signal<string | null>(null);
let generation = 0;

/** Characters the index needs at least. */
const MIN_QUERY = 2;

async function run(q: string): Promise<void> {
  generation += 1;
  const mine = generation;
  busy.value = true;
  failed.value = null;
  try {
    const [c, m] = await Promise.all([
      ok(api.GET('/v1/search', { params: { query: { q, target: 'clients', limit: 5 } } })),
      ok(api.GET('/v1/search', { params: { query: { q, target: 'messages', limit: 10 } } })),
    ]);
    if (mine !== generation) return;
    clients.value = c.hits;
    messages.value = m.hits;
  } catch (e) {
    if (mine !== generation) return;
    clients.value = [];
    messages.value = [];
    failed.value = messageOf(e);
  } finally {
    if (mine === generation) busy.value = false;
  }
}

function clearSearch(): void {
  generation += 1;
  query.value = '';
  clients.value = [];
  messages.value = [];
  busy.value = false;
  failed.value = null;
}

function Marked({ text, q }: { text: string; q: string }) {
  return (
    <>
      {highlightParts(text, q).map((part, i) => (part.hit ? <mark key={i}>{part.text}</mark> : part.text))}
    </>
  );
}

export function SearchBox() {
  const later = useMemo(() => debounce((q: string) => void run(q), 250), []);
  return (
    <div class="search" role="search">
      <label for="search-q" class="visually-hidden">
        {t('search.label')}
      </label>
      <input
        id="search-q"
        type="search"
        autocomplete="off"
        placeholder={t('search.placeholder')}
        aria-keyshortcuts="/"
        aria-controls={query.value.trim() ? 'search-results' : undefined}
        value={query.value}
        onInput={(e) => {
          const q = (e.currentTarget as HTMLInputElement).value;
          query.value = q;
          if (q.trim().length >= MIN_QUERY) later(q.trim());
          else {
            later.cancel();
            generation += 1;
            clients.value = [];
            messages.value = [];
          }
        }}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            later.cancel();
            clearSearch();
          }
        }}
      />
    </div>
  );
}

export function SearchResults() {
  const q = query.value.trim();
  if (q === '') return null;
  const none = !busy.value && clients.value.length === 0 && messages.value.length === 0;
  return (
    <section id="search-results" class="search-results" aria-label={t('search.results')} aria-busy={busy.value}>
      <div class="search-head">
        <p role="status" class="hint">
          {q.length < MIN_QUERY
            ? t('search.short')
            : failed.value
              ? failed.value
              : busy.value
                ? t('search.busy')
                : none
                  ? t('search.none')
                  : ''}
        </p>
        <button class="link" onClick={clearSearch}>
          {t('search.clear')}
        </button>
      </div>
      {clients.value.length > 0 && (
        <>
          <h3>{t('search.clients')}</h3>
          <ul class="hits">
            {clients.value.map((hit) => {
              const c = hit.client;
              const name = c?.name ?? c?.phone ?? c?.email ?? c?.identities[0] ?? '—';
              const more = [c?.phone, c?.email].filter((x): x is string => !!x && x !== name).join(' · ');
              return (
                <li key={`${hit.dialog}-${hit.seq}`}>
                  <button class="hit client-hit" onClick={() => void open(hit.dialog)}>
                    <span class="hit-title">
                      <Marked text={name} q={q} />
                    </span>
                    {more && (
                      <span class="hit-text">
                        <Marked text={more} q={q} />
                      </span>
                    )}
                  </button>
                </li>
              );
            })}
          </ul>
        </>
      )}
      {messages.value.length > 0 && (
        <>
          <h3>{t('search.messages')}</h3>
          <ul class="hits">
            {messages.value.map((hit) => {
              const m = hit.message;
              if (!m) return null;
              return (
                <li key={`${hit.dialog}-${m.id}`}>
                  <button
                    class="hit message-hit"
                    data-dialog={hit.dialog}
                    data-item={m.id}
                    onClick={() => void openAt(hit.dialog, m.id).catch(() => {})}
                  >
                    <span class="hit-text">
                      <Marked text={m.text ?? ''} q={q} />
                    </span>
                    <time dateTime={m.at}>{shortTime(m.at)}</time>
                  </button>
                </li>
              );
            })}
          </ul>
        </>
      )}
    </section>
  );
}
