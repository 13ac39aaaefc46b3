// The admin's channels (issue 18 item 7): the project's channels with their kind, account and
// state (`GET /v1/channels`), a form to connect one of each kind `POST /v1/channels` takes
// (its fields from `lib/channelForm`; secrets typed into password inputs and never shown
// back), and a disconnect with a confirmation.

import { signal, useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiFailure, api, ok } from '../api/client';
import type { components } from '../api/schema';
import { t, type Key } from '../i18n';
import {
  CHANNEL_KINDS,
  NotANumber,
  channelBody,
  channelErrorField,
  channelFields,
  channelInitial,
  type ChannelFormKind,
} from '../lib/channelForm';
import { reloadProject } from '../state';
import { DefinitionForm, FieldProblem, useAction, type FieldSpec } from './Form';

type ChannelView = components['schemas']['ChannelView'];

const channels = signal<ChannelView[] | null>(null);
/** What the last connect or disconnect did (translated when shown: the language may change). */
const done = signal<{ key: Key; name: string } | null>(null);

async function loadChannels(): Promise<void> {
  channels.value = await ok(api.GET('/v1/channels'));
}

function kindName(kind: string): string {
  return t(`channels.kind.${kind}` as Key);
}

function stateOf(c: ChannelView): string {
  if (c.state === 'failing') return t('channels.state.failing', { error: c.last_error ?? '' });
  return t(`channels.state.${c.state}` as Key);
}

function specs(kind: ChannelFormKind): FieldSpec[] {
  return channelFields(kind).map((f) => {
    const label = t(f.label as Key, { side: f.side ?? '' });
    const common = { name: f.name, label, required: f.required, ...(f.hint ? { hint: t(f.hint as Key) } : {}) };
    if (f.kind === 'select') {
      const options = (f.options ?? []).map((o) => ({ value: o, label: t(`channels.security.${o}` as Key) }));
      return { ...common, kind: 'select', options };
    }
    // Secrets are typed, never offered back by the browser's autofill of a saved password.
    const autocomplete = f.kind === 'password' ? 'new-password' : 'off';
    return { ...common, kind: f.kind, autocomplete };
  });
}

function Connect() {
  const kind = useSignal<ChannelFormKind>('telegram');
  return (
    <>
      <h3>{t('channels.new')}</h3>
      <div class="field channel-kind">
        <label for="new-channel-kind">{t('channels.new_kind')}</label>
        <select
          id="new-channel-kind"
          value={kind.value}
          onChange={(e) => (kind.value = (e.currentTarget as HTMLSelectElement).value as ChannelFormKind)}
        >
          {CHANNEL_KINDS.map((k) => (
            <option key={k} value={k}>
              {kindName(k)}
            </option>
          ))}
        </select>
      </div>
      <DefinitionForm
        key={kind.value}
        id={`new-channel-${kind.value}`}
        label={t('channels.new')}
        fields={specs(kind.value)}
        initial={channelInitial(kind.value)}
        submitLabel={t('channels.connect')}
        clearOnSuccess
        submit={async (values) => {
          done.value = null;
          let body;
          try {
            body = channelBody(kind.value, values);
          } catch (e) {
            if (e instanceof NotANumber) throw new FieldProblem(e.field, t('channels.number_invalid'));
            throw e;
          }
          const view = await ok(
            api.POST('/v1/channels', { body, headers: { 'idempotency-key': crypto.randomUUID() } }),
          ).catch((e: unknown) => {
            const field = e instanceof ApiFailure ? channelErrorField(kind.value, e.field) : null;
            if (e instanceof ApiFailure && field) throw new FieldProblem(field, e.message);
            throw e;
          });
          channels.value = [...(channels.value ?? []).filter((c) => c.channel !== view.channel), view];
          done.value = { key: 'channels.connected', name: view.name };
          await reloadProject();
        }}
      />
    </>
  );
}

/** The screen's body (the admin area gives it its heading). */
export function Channels() {
  const { run, shown } = useAction();
  useEffect(() => {
    done.value = null;
    void run(loadChannels);
  }, []);
  const list = channels.value ?? [];
  return (
    <>
      <p class="hint">{t('channels.intro')}</p>
      {list.length ? (
        <table class="admin-table channels-table">
          <thead>
            <tr>
              <th scope="col">{t('admin.name')}</th>
              <th scope="col">{t('channels.kind')}</th>
              <th scope="col">{t('channels.account')}</th>
              <th scope="col">{t('channels.state')}</th>
              <th scope="col">
                <span class="visually-hidden">{t('channels.disconnect')}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {list.map((c) => (
              <tr key={c.channel} class={`channel-${c.state}`}>
                <th scope="row">{c.name}</th>
                <td>{kindName(c.kind)}</td>
                <td>{c.account || t('card.none')}</td>
                <td class={c.state === 'connected' ? 'ok' : 'warn'}>{stateOf(c)}</td>
                <td>
                  <button
                    class="danger"
                    aria-label={t('channels.disconnect_of', { name: c.name })}
                    onClick={() =>
                      window.confirm(t('channels.disconnect_confirm', { name: c.name })) &&
                      void run(async () => {
                        done.value = null;
                        const answer = await ok(
                          api.DELETE('/v1/channels/{channel}', {
                            params: { path: { channel: c.channel } },
                            headers: { 'idempotency-key': crypto.randomUUID() },
                          }),
                        );
                        channels.value = (channels.value ?? []).filter((x) => x.channel !== c.channel);
                        done.value = { key: 'channels.disconnected', name: c.name };
                        await reloadProject(answer.seq);
                      })
                    }
                  >
                    {t('channels.disconnect')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        channels.value && <p class="muted">{t('admin.none')}</p>
      )}
      {shown}
      {done.value && (
        <p class="saved" role="status">
          {t(done.value.key, { name: done.value.name })}
        </p>
      )}
      <Connect />
    </>
  );
}
