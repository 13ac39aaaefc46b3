// The centre: the open dialog's timeline (newest at the bottom, older pages on demand) and the
// compose box: Enter sends, Shift+Enter breaks the line, F3.4's counter, files checked against
// the channel's limits (`ComposeFiles.tsx`), the channel choice among the client's channels, a
// quoted message (a message's Reply), and the draft saved on the server as one types (F3.5);
// or, in its place, the dialog's history (`History.tsx`). A message's "Save as template" opens
// the template form prefilled.

import { useEffect, useMemo, useRef } from 'preact/hooks';
import { useSignal } from '@preact/signals';
import { ApiFailure } from '../api/client';
import { t } from '../i18n';
import { debounce } from '../lib/debounce';
import { EMOJI, MAX_MESSAGE_CHARS, countedChars, insertAt, snippet } from '../lib/text';
import {
  act,
  card,
  channelOf,
  closeDialog,
  openDialog,
  openError,
  openRow,
  project,
  refreshTimeline,
  loadOlder,
  highlight,
  timeline,
  timelineCursor,
} from '../state';
import { cardShown } from '../state';
import { AttachButton, FileChips, useFiles } from './ComposeFiles';
import { DefinitionForm } from './Form';
import { History, closeHistory, historyOf, openHistory } from './History';
import { saveTemplate, templateFields } from './Admin';
import { forgetMessageActions, quoting, templateFrom, templateSaved } from './messageActions';
import { ComposeLanguageTools } from './LanguageTools';
import { Entry, who } from './TimelineEntry';

/** How long after the last keystroke a draft is saved. */
export const DRAFT_DELAY_MS = 500;

function Timeline() {
  const scroller = useRef<HTMLDivElement>(null);
  const items = timeline.value;
  const newest = items[0]?.id;
  useEffect(() => {
    const element = scroller.current;
    if (element) element.scrollTop = element.scrollHeight;
  }, [newest, openDialog.value]);
  // A search hit opened the dialog: its entry in view instead of the newest.
  // Once per hit: a live entry afterwards scrolls to the newest as usual.
  const hit = highlight.value;
  const shown = useRef<typeof hit>(null);
  useEffect(() => {
    if (!hit || hit.dialog !== openDialog.value || shown.current === hit) return;
    const entry = scroller.current?.querySelector(`[data-id="${hit.item}"]`);
    if (!entry) return;
    entry.scrollIntoView({ block: 'center' });
    shown.current = hit;
  }, [hit, items]);
  const ordered = useMemo(() => [...items].reverse(), [items]);
  return (
    <div
      class="timeline"
      ref={scroller}
      tabIndex={0}
      role="log"
      aria-live="polite"
      aria-label={t('timeline.label')}
    >
      {timelineCursor.value ? (
        <button class="older" onClick={() => void loadOlder()}>
          {t('timeline.older')}
        </button>
      ) : (
        items.length > 0 && <p class="timeline-start">{t('timeline.start')}</p>
      )}
      <ol>
        {ordered.map((item) => (
          <Entry key={item.id} item={item} live />
        ))}
      </ol>
    </div>
  );
}

function Compose({ dialog }: { dialog: string }) {
  const text = useSignal(openRow.peek()?.draft ?? '');
  const channel = useSignal<string>('');
  const error = useSignal<string | null>(null);
  const saved = useSignal(false);
  const sending = useSignal(false);
  const box = useRef<HTMLTextAreaElement>(null);

  const saveDraft = useMemo(
    () =>
      debounce((value: string) => {
        const action = value.trim() ? { action: 'save_draft' as const, text: value } : { action: 'clear_draft' as const };
        act(dialog, action).then(
          () => {
            saved.value = true;
          },
          () => {},
        );
      }, DRAFT_DELAY_MS),
    [dialog],
  );
  useEffect(() => () => saveDraft.flush(), [saveDraft]);

  // The draft arrives with the row once it is loaded (a reload opens the dialog by its URL).
  // Taken once, before the operator types: later rows echo the operator's own saves.
  const serverDraft = openRow.value?.dialog === dialog ? openRow.value.draft : null;
  const touched = useRef(false);
  useEffect(() => {
    if (serverDraft && !touched.current && !text.peek()) text.value = serverDraft;
  }, [serverDraft]);

  const identities = card.value?.dialog === dialog ? card.value.identities : [];
  const channels = identities.map((i) => i.channel).filter((c, i, all) => all.indexOf(c) === i);
  const preferred = openRow.value?.last_message?.channel;
  const chosen = channels.includes(channel.value)
    ? channel.value
    : preferred && channels.includes(preferred)
      ? preferred
      : (channels[0] ?? '');
  const blocked = openRow.value?.dialog === dialog && openRow.value.blocked;
  const counted = countedChars(text.value);
  const tooLong = counted > MAX_MESSAGE_CHARS;
  const files = useFiles(chosen);
  const dragging = useSignal(false);
  const quoted = quoting.value && timeline.value.some((i) => i.id === quoting.value?.id) ? quoting.value : null;
  // A reply goes through the quoted message's channel when the client has it (the quote
  // travels with it there).
  useEffect(() => {
    const through = quoted?.channel;
    if (through && channels.includes(through)) channel.value = through;
  }, [quoted?.id]);
  const hasFiles = files.chips.value.length > 0;
  const canSend = !blocked && !tooLong && Boolean(chosen) && !sending.value && files.ready && (Boolean(text.value.trim()) || hasFiles);

  // A template or an emoji goes in at the caret (replacing a selection); the draft is saved
  // as if typed.
  const put = (snippet: string, spaced: boolean) => {
    const area = box.current;
    const start = area?.selectionStart ?? text.value.length;
    const end = area?.selectionEnd ?? start;
    const next = insertAt(text.value, start, end, snippet, spaced);
    text.value = next.text;
    touched.current = true;
    saved.value = false;
    saveDraft(next.text);
    requestAnimationFrame(() => {
      area?.focus();
      area?.setSelectionRange(next.caret, next.caret);
    });
  };
  const templates = project.value?.templates ?? [];
  const emojiOpen = useSignal(false);

  const send = async () => {
    const body = text.value;
    if (!canSend) return;
    sending.value = true;
    error.value = null;
    saveDraft.cancel();
    try {
      const seq = await act(dialog, {
        action: 'send_message',
        channel: chosen,
        text: body,
        attachments: files.attachments as unknown as Record<string, never>[],
        reply_to: quoted?.id ?? null,
      });
      text.value = '';
      saved.value = false;
      files.clear();
      quoting.value = null;
      templateSaved.value = null;
      await act(dialog, { action: 'clear_draft' }).catch(() => 0);
      await refreshTimeline(dialog, seq);
    } catch (e) {
      error.value = e instanceof ApiFailure ? (e.code === 'network' ? t('error.network') : e.message) : String(e);
    } finally {
      sending.value = false;
    }
  };

  return (
    <form
      class={dragging.value ? 'compose dragging' : 'compose'}
      aria-label={t('compose.label')}
      onSubmit={(e) => {
        e.preventDefault();
        void send();
      }}
      onDragOver={(e) => {
        if (blocked || !files.enabled || !e.dataTransfer?.types.includes('Files')) return;
        e.preventDefault();
        dragging.value = true;
      }}
      onDragLeave={(e) => {
        if (!(e.currentTarget as HTMLElement).contains(e.relatedTarget as Node | null)) dragging.value = false;
      }}
      onDrop={(e) => {
        if (!e.dataTransfer?.files.length) return;
        e.preventDefault();
        dragging.value = false;
        if (!blocked) files.offer([...e.dataTransfer.files]);
      }}
    >
      {blocked && <p class="compose-note">{t('compose.blocked')}</p>}
      {!blocked && channels.length === 0 && card.value && <p class="compose-note">{t('compose.no_channel')}</p>}
      {dragging.value && <p class="compose-drop">{t('compose.drop')}</p>}
      {quoted && (
        <div class="compose-quote" role="group" aria-label={t('compose.replying_to', { who: who(quoted) })}>
          <blockquote class="quote">
            <span class="who">{t('compose.replying_to', { who: who(quoted) })}</span>{' '}
            {snippet(quoted.text, 160) || t('timeline.files', { n: quoted.files.length })}
          </blockquote>
          <button
            type="button"
            class="chip-remove"
            aria-label={t('compose.cancel_reply')}
            onClick={() => {
              quoting.value = null;
              box.current?.focus();
            }}
          >
            ×
          </button>
        </div>
      )}
      {templateSaved.value && (
        <p class="compose-saved" role="status">
          {t('template.saved', { name: templateSaved.value })}
        </p>
      )}
      <label for="compose-text" class="visually-hidden">
        {t('compose.label')}
      </label>
      <textarea
        id="compose-text"
        ref={box}
        rows={3}
        value={text.value}
        disabled={blocked}
        placeholder={t('compose.placeholder')}
        aria-invalid={tooLong ? 'true' : undefined}
        aria-describedby="compose-counter"
        onInput={(e) => {
          text.value = (e.currentTarget as HTMLTextAreaElement).value;
          touched.current = true;
          saved.value = false;
          saveDraft(text.value);
        }}
        onPaste={(e) => {
          const pasted = [...(e.clipboardData?.files ?? [])];
          if (pasted.length === 0) return;
          e.preventDefault();
          files.offer(pasted);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.ctrlKey && !e.isComposing) {
            e.preventDefault();
            void send();
          } else if (e.key === 'Escape') {
            (e.currentTarget as HTMLTextAreaElement).blur();
            document.getElementById('dialog-list')?.focus();
          }
        }}
      />
      <FileChips files={files} />
      {(files.refused.value.length > 0 || files.rechecked.length > 0) && (
        <div id="compose-refused" class="compose-refused" role="alert">
          {[...files.refused.value, ...files.rechecked].map((line) => (
            <p key={line}>{line}</p>
          ))}
        </div>
      )}
      <ComposeLanguageTools
        dialog={dialog}
        text={text.value}
        disabled={blocked}
        replace={(next) => {
          text.value = next;
          touched.current = true;
          saved.value = false;
          saveDraft(next);
        }}
      />
      <div class="compose-bar">
        <AttachButton files={files} disabled={blocked} />
        {templates.length > 0 && (
          <label class="compose-template">
            <span class="visually-hidden">{t('compose.template')}</span>
            <select
              value=""
              disabled={blocked}
              onChange={(e) => {
                const select = e.currentTarget as HTMLSelectElement;
                const chosenTemplate = templates.find((x) => x.template === select.value);
                select.value = '';
                if (chosenTemplate) put(chosenTemplate.text, true);
              }}
            >
              <option value="">{t('compose.template')}</option>
              {templates.map((x) => (
                <option key={x.template} value={x.template}>
                  {x.name}
                </option>
              ))}
            </select>
          </label>
        )}
        <button
          type="button"
          class="compose-emoji-toggle"
          aria-expanded={emojiOpen.value ? 'true' : 'false'}
          aria-controls="compose-emoji"
          disabled={blocked}
          onClick={() => (emojiOpen.value = !emojiOpen.value)}
        >
          <span aria-hidden="true">🙂</span>
          <span class="visually-hidden">{t('compose.emoji')}</span>
        </button>
        {emojiOpen.value && (
          <div
            id="compose-emoji"
            class="compose-emoji"
            role="group"
            aria-label={t('compose.emoji')}
            onKeyDown={(e) => {
              if (e.key === 'Escape') {
                e.stopPropagation();
                emojiOpen.value = false;
                box.current?.focus();
              }
            }}
          >
            {EMOJI.map((e) => (
              // The picker closes on a pick so that the text it went into is in sight again.
              <button
                key={e}
                type="button"
                onClick={() => {
                  emojiOpen.value = false;
                  put(e, false);
                }}
              >
                {e}
              </button>
            ))}
          </div>
        )}
        {channels.length > 1 ? (
          <label class="compose-channel">
            {t('compose.channel')}{' '}
            <select
              value={chosen}
              onChange={(e) => {
                channel.value = (e.currentTarget as HTMLSelectElement).value;
                // What was refused for the other channel is no news for this one.
                files.refused.value = [];
              }}
            >
              {channels.map((c) => (
                <option key={c} value={c}>
                  {channelOf(c)?.name ?? c}
                </option>
              ))}
            </select>
          </label>
        ) : (
          <span class="compose-channel">{channelOf(chosen)?.name ?? ''}</span>
        )}
        <span id="compose-counter" class={tooLong ? 'counter over' : 'counter'} aria-live="polite">
          {tooLong ? t('compose.too_long', { max: MAX_MESSAGE_CHARS }) : t('compose.counter', { n: counted, max: MAX_MESSAGE_CHARS })}
        </span>
        {saved.value && <span class="saved">{t('compose.draft_saved')}</span>}
        <button type="submit" class="primary" disabled={!canSend}>
          {t('compose.send')}
        </button>
      </div>
      {error.value && (
        <p class="form-error" role="alert">
          {error.value}
        </p>
      )}
    </form>
  );
}

/** A message saved as a template: the template form, prefilled, over the conversation. */
function SaveTemplate() {
  const item = templateFrom.value;
  // Into its first field (the name, the text to keep is below it).
  useEffect(() => {
    if (item) document.getElementById('template-from-name')?.focus();
  }, [item?.id]);
  if (!item) return null;
  const close = () => {
    templateFrom.value = null;
    document.querySelector<HTMLElement>(`[data-id="${item.id}"] .entry-actions button`)?.focus();
  };
  return (
    <div class="overlay" onClick={close}>
      <div
        class="dialog template-dialog"
        role="dialog"
        aria-modal="true"
        aria-labelledby="template-from-title"
        onClick={(e) => e.stopPropagation()}
        onKeyDown={(e) => {
          if (e.key === 'Escape') {
            e.stopPropagation();
            close();
          }
        }}
      >
        <h2 id="template-from-title">{t('template.from_message')}</h2>
        <DefinitionForm
          id="template-from"
          label={t('template.from_message')}
          fields={templateFields()}
          initial={{ name: snippet(item.text, 40), text: item.text }}
          submitLabel={t('admin.save')}
          onCancel={close}
          submit={async (values) => {
            await saveTemplate(null, values);
            templateSaved.value = String(values.name ?? '').trim();
            close();
          }}
        />
      </div>
    </div>
  );
}

export function Conversation() {
  const dialog = openDialog.value;
  const row = openRow.value;
  const inHistory = dialog !== null && historyOf.value === dialog;
  // Another dialog opens at its conversation, not at the history left open on this one; a
  // quote or a template form of the last one is let go.
  useEffect(() => {
    if (historyOf.peek() !== dialog) closeHistory();
    forgetMessageActions();
  }, [dialog]);
  if (dialog && openError.value) {
    return (
      <main class="conversation" aria-label={t('timeline.label')}>
        <p class="none form-error" role="alert">
          {openError.value === 'network' ? t('error.network') : openError.value}
        </p>
      </main>
    );
  }
  return (
    <main class="conversation" aria-label={t('timeline.label')}>
      {dialog ? (
        <>
          <header class="conversation-head">
            <button type="button" class="back" onClick={closeDialog}>
              {t('timeline.back')}
            </button>
            <h1>{row?.title ?? (row ? `#${row.client.number}` : '…')}</h1>
            <button
              type="button"
              class="history-toggle"
              aria-pressed={inHistory}
              onClick={() => (inHistory ? closeHistory() : openHistory(dialog))}
            >
              {inHistory ? t('history.close') : t('history.open')}
            </button>
            <button type="button" class="to-card" onClick={() => (cardShown.value = true)}>
              {t('card.open')}
            </button>
          </header>
          {inHistory ? (
            <History dialog={dialog} />
          ) : (
            <>
              <Timeline />
              <Compose key={dialog} dialog={dialog} />
              <SaveTemplate />
            </>
          )}
        </>
      ) : (
        <p class="none">{t('timeline.none')}</p>
      )}
    </main>
  );
}
