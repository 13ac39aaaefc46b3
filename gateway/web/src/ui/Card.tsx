// The right pane: the client card (F7), read-only for now, and the dialog's actions of F4
// (assign, close/reopen, pin/unpin).

import { useSignal } from '@preact/signals';
import { ApiFailure } from '../api/client';
import { t } from '../i18n';
import { act, card, channelOf, me, openDialog, openRow, project, refreshCard } from '../state';
import { fullTime } from './format';

function Actions({ dialog }: { dialog: string }) {
  const row = openRow.value;
  const error = useSignal<string | null>(null);
  const operators = (project.value?.operators ?? []).filter((o) => !o.removed);
  const run = async (action: Parameters<typeof act>[1]) => {
    error.value = null;
    try {
      const seq = await act(dialog, action);
      await refreshCard(dialog, seq);
    } catch (e) {
      error.value = e instanceof ApiFailure ? e.message : String(e);
    }
  };
  if (!row || row.dialog !== dialog) return null;
  const admin = me.value?.role === 'admin';
  return (
    <div class="actions">
      <label class="assign">
        {t('action.assign')}
        <select
          value={row.assignee ?? ''}
          onChange={(e) => {
            const operator = (e.currentTarget as HTMLSelectElement).value;
            void run(operator ? { action: 'assign', operator } : { action: 'unassign' });
          }}
        >
          <option value="">{t('action.unassigned')}</option>
          {operators
            .filter((o) => admin || o.operator === me.value?.operator || o.operator === row.assignee)
            .map((o) => (
              <option key={o.operator} value={o.operator}>
                {o.name}
              </option>
            ))}
        </select>
      </label>
      <div class="action-buttons">
        <button onClick={() => void run({ action: row.closed ? 'reopen' : 'close' })}>
          {row.closed ? t('action.reopen') : t('action.close')}
        </button>
        <button onClick={() => void run({ action: row.pinned ? 'unpin' : 'pin' })} aria-pressed={row.pinned}>
          {row.pinned ? t('action.unpin') : t('action.pin')}
        </button>
      </div>
      {error.value && (
        <p class="form-error" role="alert">
          {error.value}
        </p>
      )}
    </div>
  );
}

function Section({ title, children }: { title: string; children: preact.ComponentChildren }) {
  return (
    <section class="card-section">
      <h3>{title}</h3>
      {children}
    </section>
  );
}

export function CardPane() {
  const dialog = openDialog.value;
  const c = card.value;
  if (!dialog) return <aside class="card-pane" aria-label={t('card.label')} />;
  const tags = project.value?.tags ?? [];
  const lists = project.value?.lists ?? [];
  const folders = project.value?.folders ?? [];
  const none = <p class="muted">{t('card.none')}</p>;
  return (
    <aside class="card-pane" aria-label={t('card.label')}>
      <Actions dialog={dialog} />
      {c && c.dialog === dialog && (
        <div class="card">
          <h2>{c.profile.name ?? t('card.number', { n: c.number })}</h2>
          <dl>
            <dt>{t('card.id')}</dt>
            <dd>#{c.number}</dd>
            {c.profile.phone && (
              <>
                <dt>{t('card.phone')}</dt>
                <dd>{c.profile.phone}</dd>
              </>
            )}
            {c.profile.email && (
              <>
                <dt>{t('card.email')}</dt>
                <dd>{c.profile.email}</dd>
              </>
            )}
            <dt>{t('card.since')}</dt>
            <dd>{fullTime(c.created_at)}</dd>
          </dl>
          <Section title={t('card.identities')}>
            {c.identities.length ? (
              <ul>
                {c.identities.map((i) => (
                  <li key={`${i.channel}:${i.external_id}`}>
                    {channelOf(i.channel)?.name ?? i.channel}: {i.display_name ?? i.external_id}
                  </li>
                ))}
              </ul>
            ) : (
              none
            )}
          </Section>
          <Section title={t('card.tags')}>
            {c.tags.length ? (
              <ul class="tags">
                {c.tags.map((id) => {
                  const tag = tags.find((x) => x.tag === id);
                  return (
                    <li key={id} class="tag" style={{ borderColor: tag?.color }}>
                      {tag?.name ?? id}
                    </li>
                  );
                })}
              </ul>
            ) : (
              none
            )}
          </Section>
          <Section title={t('card.variables')}>
            {c.variables.length ? (
              <dl>
                {c.variables.map((v) => (
                  <>
                    <dt key={`k-${v.name}`}>{v.name}</dt>
                    <dd key={`v-${v.name}`}>{v.value}</dd>
                  </>
                ))}
              </dl>
            ) : (
              none
            )}
          </Section>
          <Section title={t('card.lists')}>
            {c.lists.length ? <p>{c.lists.map((id) => lists.find((l) => l.id === id)?.name ?? id).join(', ')}</p> : none}
          </Section>
          <Section title={t('card.folders')}>
            {c.folders.length ? <p>{c.folders.map((id) => folders.find((f) => f.folder === id)?.name ?? id).join(', ')}</p> : none}
          </Section>
          {c.funnel_block && (
            <Section title={t('card.funnel')}>
              <p>{c.funnel_block.name}</p>
            </Section>
          )}
          <Section title={t('card.tasks')}>
            {c.tasks.length ? (
              <ul>
                {c.tasks.map((task) => (
                  <li key={task.task} class={task.done ? 'done' : ''}>
                    {task.text}
                  </li>
                ))}
              </ul>
            ) : (
              none
            )}
          </Section>
        </div>
      )}
    </aside>
  );
}
