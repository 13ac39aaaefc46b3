// The signed-in screen: the header (unread total, offline mark, language, sign-out) over the
// three panes, the keyboard shortcuts, and the unread total in the tab's title.

import { useEffect } from 'preact/hooks';
import { signal } from '@preact/signals';
import { api } from '../api/client';
import { t } from '../i18n';
import { connectLive, disconnectLive } from '../live';
import { typing } from '../lib/keys';
import {
  activeIndex,
  closeDialog,
  counters,
  list,
  me,
  offline,
  open,
  openDialog,
  project,
  signedOut,
} from '../state';
import { cardShown, goTo, page, saveProfile } from '../state';
import { Admin } from './Admin';
import { Profile } from './Profile';
import { CardPane } from './Card';
import { Conversation } from './Conversation';
import { DialogList } from './DialogList';
import { LangSwitch } from './LangSwitch';

export const showShortcuts = signal(false);

const SHORTCUTS: readonly [string, Parameters<typeof t>[0]][] = [
  ['j / ↓', 'shortcuts.next'],
  ['k / ↑', 'shortcuts.prev'],
  ['Enter', 'shortcuts.open'],
  ['r', 'shortcuts.reply'],
  ['Esc', 'shortcuts.leave'],
  ['?', 'shortcuts.help'],
  ['x', 'shortcuts.pick'],
  ['/', 'shortcuts.search'],
];

function Shortcuts() {
  if (!showShortcuts.value) return null;
  return (
    <div class="overlay" onClick={() => (showShortcuts.value = false)}>
      <div
        class="dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="shortcuts-title"
        onClick={(e) => e.stopPropagation()}
      >
        <h2 id="shortcuts-title">{t('shortcuts.title')}</h2>
        <dl class="shortcuts">
          {SHORTCUTS.map(([keys, what]) => (
            <div key={keys}>
              <dt>
                <kbd>{keys}</kbd>
              </dt>
              <dd>{t(what)}</dd>
            </div>
          ))}
        </dl>
        <button class="primary" autoFocus onClick={() => (showShortcuts.value = false)}>
          {t('shortcuts.close')}
        </button>
      </div>
    </div>
  );
}

function onKey(e: KeyboardEvent): void {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === 'Escape' && showShortcuts.value) {
    showShortcuts.value = false;
    return;
  }
  if (typing(e.target)) return;
  if (page.value !== 'inbox') return;
  // Enter on a button or link is that control's.
  const tag = (e.target as HTMLElement | null)?.tagName;
  if (e.key === 'Enter' && (tag === 'BUTTON' || tag === 'A')) return;
  const ids = list.value.ids;
  switch (e.key) {
    case 'j':
    case 'ArrowDown':
      activeIndex.value = Math.min(ids.length - 1, activeIndex.value + 1);
      break;
    case 'k':
    case 'ArrowUp':
      activeIndex.value = Math.max(0, activeIndex.value - 1);
      break;
    case 'Enter': {
      const id = ids[activeIndex.value];
      if (id) void open(id);
      break;
    }
    case 'r':
      document.getElementById('compose-text')?.focus();
      break;
    case '?':
      showShortcuts.value = true;
      break;
    case 'Escape':
      closeDialog();
      break;
    default:
      return;
  }
  e.preventDefault();
}

async function signOut(): Promise<void> {
  disconnectLive();
  await api.POST('/v1/auth/logout').catch(() => undefined);
  signedOut();
}

export function Inbox() {
  useEffect(() => {
    connectLive();
    window.addEventListener('keydown', onKey);
    return () => {
      disconnectLive();
      window.removeEventListener('keydown', onKey);
    };
  }, []);
  // Another dialog opens at its conversation (a narrow window's card was for the last one).
  useEffect(() => {
    cardShown.value = false;
  }, [openDialog.value]);
  const unread = counters.value?.unread ?? 0;
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) ${t('app.name')}` : t('app.name');
  }, [unread]);
  const operator = project.value?.operators.find((o) => o.operator === me.value?.operator);
  return (
    <div class="inbox">
      <header class="top">
        <span class="brand">{t('app.name')}</span>
        {project.value && <span class="project">{project.value.name}</span>}
        <span class="total" data-testid="unread-total">
          {t('header.unread', { n: unread })}
        </span>
        {offline.value && (
          <span class="offline" role="status">
            {t('live.offline')}
          </span>
        )}
        <span class="spring" />
        <button
          class="link"
          onClick={() => (showShortcuts.value = true)}
          aria-keyshortcuts="?"
          aria-label={t('shortcuts.title')}
          title={t('shortcuts.title')}
        >
          ?
        </button>
        <LangSwitch save={(language) => void saveProfile({ language }).catch(() => undefined)} />
        <PageLinks />
        {operator && <span class="who">{operator.name}</span>}
        <button onClick={() => void signOut()}>{t('signout')}</button>
      </header>
      {page.value === 'admin' && me.value?.role === 'admin' ? (
        <Admin />
      ) : page.value === 'profile' ? (
        <Profile />
      ) : (
        <div class={`${openDialog.value ? 'panes has-open' : 'panes'}${cardShown.value ? ' show-card' : ''}`}>
          <DialogList />
          <Conversation />
          <CardPane />
        </div>
      )}
      <Shortcuts />
    </div>
  );
}

/** The header's way to the inbox, the settings (admins) and the profile. */
function PageLinks() {
  const link = (to: 'inbox' | 'admin' | 'profile', label: string) => (
    <button
      class={page.value === to ? 'link current' : 'link'}
      aria-current={page.value === to ? 'page' : undefined}
      onClick={() => goTo(to)}
    >
      {label}
    </button>
  );
  return (
    <nav class="page-links" aria-label={t('nav.label')}>
      {link('inbox', t('nav.inbox'))}
      {me.value?.role === 'admin' && link('admin', t('nav.admin'))}
      {link('profile', t('nav.profile'))}
    </nav>
  );
}
