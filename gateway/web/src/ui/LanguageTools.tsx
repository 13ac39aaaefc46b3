// F3.8 in the inbox, shown only when the project has a provider (`GET /v1/project/translation`):
// a "Translate" action on a client's message (the translation below the original, with the
// language it was detected in), "Translate to the client's language" (replaces the draft, one
// undo) and "Suggest reply" (fills the compose box) beside the compose box, and the admin's
// section setting the two providers (keys write-only: typed, never shown back but masked).

import { signal, useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiFailure, api, ok } from '../api/client';
import type { components } from '../api/schema';
import type { TimelineItem } from '../api/types';
import { lang, t } from '../i18n';
import { DefinitionForm, FieldProblem, Term, useAction, type FieldSpec, type Values } from './Form';

type Tools = components['schemas']['LanguageToolsState'];
type Settings = components['schemas']['LanguageSettingsView'];
type Translation = components['schemas']['TranslationAnswer'];

/** What the project has on (null until read; read once per page). */
export const languageTools = signal<Tools | null>(null);
let reading: Promise<void> | null = null;

export function loadLanguageTools(force = false): Promise<void> {
  if (!reading || force) {
    reading = ok(api.GET('/v1/project/translation')).then(
      (tools) => {
        languageTools.value = tools;
      },
      () => {
        reading = null;
      },
    );
  }
  return reading;
}

function useTools(): Tools | null {
  useEffect(() => void loadLanguageTools(), []);
  return languageTools.value;
}

/** Translations shown, by message and target language: they stay while the page lives. */
const translations = signal<ReadonlyMap<string, Translation>>(new Map());

/** The "Translate" action of a client's message and its translation. */
export function TranslateMessage({ dialog, item }: { dialog: string; item: TimelineItem }) {
  const tools = useTools();
  const busy = useSignal(false);
  const { run, shown } = useAction();
  if (!tools?.translation || item.kind !== 'message' || item.direction !== 'inbound' || !item.text) return null;
  const key = `${item.id}:${lang.value}`;
  const done = translations.value.get(key);
  if (done) {
    return (
      <div class="translation" lang={done.target_language}>
        <p class="text">{done.text}</p>
        <p class="hint">
          {done.source_language
            ? t('translate.from', { source: done.source_language, target: done.target_language })
            : t('translate.into', { target: done.target_language })}
        </p>
      </div>
    );
  }
  return (
    <div class="translation">
      <button
        type="button"
        class="link"
        disabled={busy.value}
        onClick={() =>
          void run(async () => {
            busy.value = true;
            try {
              const answer = await ok(
                api.POST('/v1/dialogs/{dialog}/translate', {
                  params: { path: { dialog } },
                  body: { message: item.id, to: lang.value },
                }),
              );
              translations.value = new Map(translations.value).set(key, answer);
            } finally {
              busy.value = false;
            }
          })
        }
      >
        {busy.value ? t('translate.busy') : t('translate.message')}
      </button>
      {shown}
    </div>
  );
}

/** The compose box's translation and suggestion, each replacing the text (`replace`). */
export function ComposeLanguageTools({ dialog, text, replace, disabled }: {
  dialog: string;
  text: string;
  replace: (next: string) => void;
  disabled: boolean;
}) {
  const tools = useTools();
  const before = useSignal<string | null>(null);
  const busy = useSignal(false);
  const { run, shown } = useAction();
  if (!tools?.translation && !tools?.suggestions) return null;
  const work = (call: () => Promise<string>) =>
    void run(async () => {
      busy.value = true;
      try {
        const previous = text;
        replace(await call());
        before.value = previous;
      } finally {
        busy.value = false;
      }
    });
  return (
    <div class="compose-language" role="group" aria-label={t('translate.tools')}>
      {tools.translation && (
        <button
          type="button"
          disabled={disabled || busy.value || !text.trim()}
          onClick={() =>
            work(async () => {
              const answer = await ok(
                api.POST('/v1/dialogs/{dialog}/translate-reply', { params: { path: { dialog } }, body: { text } }),
              );
              return answer.text;
            })
          }
        >
          {t('translate.reply')}
        </button>
      )}
      {tools.suggestions && (
        <button
          type="button"
          disabled={disabled || busy.value}
          onClick={() =>
            work(async () => {
              const answer = await ok(api.POST('/v1/dialogs/{dialog}/suggest-reply', { params: { path: { dialog } } }));
              return answer.text;
            })
          }
        >
          {busy.value ? t('translate.busy') : t('translate.suggest')}
        </button>
      )}
      {before.value !== null && (
        <button
          type="button"
          onClick={() => {
            replace(before.value ?? '');
            before.value = null;
          }}
        >
          {t('translate.undo')}
        </button>
      )}
      {shown}
    </div>
  );
}

function fields(settings: Settings | null): FieldSpec[] {
  const keyHint = (masked: string | null | undefined) =>
    masked ? t('translate.key_kept', { masked }) : t('translate.key_none');
  return [
    { name: 'translation_api_base', label: t('translate.translation_base'), kind: 'text', hint: t('translate.translation_hint'), autocomplete: 'off' },
    { name: 'translation_api_key', label: t('translate.api_key'), kind: 'password', hint: keyHint(settings?.translation?.api_key), autocomplete: 'new-password' },
    { name: 'suggestions_api_base', label: t('translate.suggestions_base'), kind: 'text', hint: t('translate.suggestions_hint'), autocomplete: 'off' },
    { name: 'suggestions_api_key', label: t('translate.api_key'), kind: 'password', hint: keyHint(settings?.suggestions?.api_key), autocomplete: 'new-password' },
    { name: 'suggestions_model', label: t('translate.model'), kind: 'text', autocomplete: 'off' },
  ];
}

/** The settings to send: an empty base turns its provider off; an empty key keeps the stored one. */
function body(v: Values) {
  const text = (name: string) => String(v[name] ?? '').trim();
  const key = (name: string) => (text(name) ? { api_key: text(name) } : {});
  return {
    translation: text('translation_api_base')
      ? { api_base: text('translation_api_base'), ...key('translation_api_key') }
      : null,
    suggestions: text('suggestions_api_base')
      ? { api_base: text('suggestions_api_base'), model: text('suggestions_model'), ...key('suggestions_api_key') }
      : null,
  };
}

/** Field names of the form by the API's (`translation.api_base` → `translation_api_base`). */
function formField(field: string | null): string | null {
  return field ? field.replace('.', '_') : null;
}

/** The admin's section (the admin area gives it its heading). */
export function LanguageSettings() {
  const settings = useSignal<Settings | null>(null);
  const saved = useSignal(false);
  const { run, shown } = useAction();
  useEffect(() => {
    void run(async () => {
      settings.value = await ok(api.GET('/v1/project/translation/settings'));
    });
  }, []);
  const current = settings.value;
  if (!current) return <>{shown}</>;
  const initial: Values = {
    translation_api_base: current.translation?.api_base ?? '',
    translation_api_key: '',
    suggestions_api_base: current.suggestions?.api_base ?? '',
    suggestions_api_key: '',
    suggestions_model: current.suggestions?.model ?? '',
  };
  return (
    <>
      <p class="hint">{t('translate.intro')}</p>
      <dl class="language-state">
        <Term label={t('translate.translation_state')} value={current.translation ? t('translate.on') : t('translate.off')} />
        <Term label={t('translate.suggestions_state')} value={current.suggestions ? t('translate.on') : t('translate.off')} />
      </dl>
      <DefinitionForm
        key={JSON.stringify(current)}
        id="language-settings"
        label={t('admin.translation')}
        fields={fields(current)}
        initial={initial}
        submitLabel={t('translate.save')}
        submit={async (values) => {
          saved.value = false;
          settings.value = await ok(api.PUT('/v1/project/translation/settings', { body: body(values) })).catch((e: unknown) => {
            const field = e instanceof ApiFailure ? formField(e.field) : null;
            if (e instanceof ApiFailure && field) throw new FieldProblem(field, e.message);
            throw e;
          });
          saved.value = true;
          await loadLanguageTools(true);
        }}
      />
      {(current.translation || current.suggestions) && (
        <button
          type="button"
          class="danger"
          onClick={() =>
            window.confirm(t('translate.off_confirm')) &&
            void run(async () => {
              settings.value = await ok(api.DELETE('/v1/project/translation/settings'));
              saved.value = true;
              await loadLanguageTools(true);
            })
          }
        >
          {t('translate.turn_off')}
        </button>
      )}
      {shown}
      {saved.value && (
        <p class="saved" role="status">
          {t('translate.saved')}
        </p>
      )}
    </>
  );
}
