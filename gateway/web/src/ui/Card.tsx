// The right pane: the client card (F7) edited in place — variables (free or choice-typed),
// tags with their colours, lists, folders, the deal, tasks and a comment — and the dialog's
// actions of F4: assign, close/reopen, pin, block, blacklist, bot pause, delete (with its
// permission). Every change is one `POST /v1/dialogs/{id}/actions`; the card, the row and the
// timeline are read again at the answer's sequence.

import { batch, useSignal } from '@preact/signals';
import type { ComponentChildren } from 'preact';
import { api, ok } from '../api/client';
import type { DialogAction } from '../api/types';
import { t } from '../i18n';
import {
  act,
  card,
  cardShown,
  channelOf,
  closeDialog,
  list,
  me,
  openDialog,
  openRow,
  project,
  refreshCard,
  refreshTimeline,
  view,
} from '../state';
import { applyRow } from '../lib/listStore';
import { DefinitionForm, Term, useAction } from './Form';
import { fullTime } from './format';

/** Runs one action on the open dialog and reads back what it changed. */
async function change(dialog: string, action: DialogAction): Promise<void> {
  const seq = await act(dialog, action);
  if (action.action === 'delete') {
    closeDialog();
    return;
  }
  const row = await ok(
    api.GET('/v1/dialogs/{dialog}', { params: { path: { dialog }, query: { min_seq: seq } } }),
  );
  // As a live row would: the list moves the row (or drops it from the view), the pane follows.
  const fresh = { ...row, draft: list.value.rows[dialog]?.draft ?? openRow.value?.draft ?? null };
  batch(() => {
    list.value = applyRow(list.value, fresh, view.value);
    if (openDialog.value === dialog) openRow.value = fresh;
  });
  await Promise.all([refreshCard(dialog, seq), refreshTimeline(dialog, seq)]);
}

/** A section's runner of dialog actions: its failure shown under it. */
function useRun(dialog: string) {
  const { run: attempt, shown } = useAction();
  const run = (action: DialogAction) => attempt(() => change(dialog, action));
  return { run, shown };
}

function Actions({ dialog }: { dialog: string }) {
  const row = openRow.value;
  const { run, shown } = useRun(dialog);
  const operators = (project.value?.operators ?? []).filter((o) => !o.removed);
  if (!row || row.dialog !== dialog) return null;
  const admin = me.value?.role === 'admin';
  const mine = project.value?.operators.find((o) => o.operator === me.value?.operator);
  const toggle = (on: boolean, yes: DialogAction, no: DialogAction, labelOn: string, labelOff: string) => (
    <button onClick={() => void run(on ? no : yes)} aria-pressed={on}>
      {on ? labelOff : labelOn}
    </button>
  );
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
        {toggle(row.closed, { action: 'close' }, { action: 'reopen' }, t('action.close'), t('action.reopen'))}
        {toggle(row.pinned, { action: 'pin' }, { action: 'unpin' }, t('action.pin'), t('action.unpin'))}
        {toggle(row.blocked, { action: 'block' }, { action: 'unblock' }, t('action.block'), t('action.unblock'))}
        {toggle(row.bot_paused, { action: 'pause_bot' }, { action: 'resume_bot' }, t('action.pause_bot'), t('action.resume_bot'))}
        {toggle(
          row.blacklisted,
          { action: 'blacklist' },
          { action: 'unblacklist' },
          t('action.blacklist'),
          t('action.unblacklist'),
        )}
        {mine?.can_delete && (
          <button
            class="danger"
            onClick={() => window.confirm(t('action.delete_confirm')) && void run({ action: 'delete' })}
          >
            {t('action.delete')}
          </button>
        )}
      </div>
      {shown}
    </div>
  );
}

function Section({ title, children }: { title: string; children: ComponentChildren }) {
  return (
    <section class="card-section" aria-label={title}>
      <h3>{title}</h3>
      {children}
    </section>
  );
}

interface Chip {
  id: string;
  name: string;
  color?: string;
}

/** Chips of what the card has (each removable) and a picker of what it could have. */
function Chips({ label, have, all, add, remove }: {
  label: string;
  have: Chip[];
  all: Chip[];
  add: (id: string) => void;
  remove: (id: string) => void;
}) {
  const pick = useSignal('');
  const rest = all.filter((c) => !have.some((h) => h.id === c.id));
  return (
    <>
      {have.length ? (
        <ul class="tags">
          {have.map((c) => (
            <li key={c.id} class="tag" style={c.color ? { borderColor: c.color } : undefined}>
              {c.color && <span class="swatch" style={{ background: c.color }} aria-hidden="true" />}
              {c.name}
              <button class="chip-remove" aria-label={t('card.remove', { name: c.name })} onClick={() => remove(c.id)}>
                ×
              </button>
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">{t('card.none')}</p>
      )}
      {rest.length > 0 && (
        <div class="chip-add">
          <select aria-label={t('card.add_to', { what: label })} value={pick.value} onChange={(e) => (pick.value = (e.currentTarget as HTMLSelectElement).value)}>
            <option value="">{t('card.choose')}</option>
            {rest.map((c) => (
              <option key={c.id} value={c.id}>
                {c.name}
              </option>
            ))}
          </select>
          <button
            disabled={!pick.value}
            onClick={() => {
              if (pick.value) add(pick.value);
              pick.value = '';
            }}
          >
            {t('card.add')}
          </button>
        </div>
      )}
    </>
  );
}

function Variables({ dialog }: { dialog: string }) {
  const c = card.value;
  const { run, shown } = useRun(dialog);
  if (!c) return null;
  const defined = project.value?.variables ?? [];
  const names = [...new Set([...defined.map((v) => v.name), ...c.variables.map((v) => v.name)])];
  if (!names.length) return <p class="muted">{t('card.none')}</p>;
  const save = (name: string, value: string) => {
    const now = c.variables.find((v) => v.name === name)?.value ?? '';
    if (value === now) return;
    void run(value ? { action: 'set_variable', name, value } : { action: 'clear_variable', name });
  };
  return (
    <>
      <div class="variables">
        {names.map((name) => {
          const value = c.variables.find((v) => v.name === name)?.value ?? '';
          const choices = defined.find((v) => v.name === name)?.choices ?? [];
          const id = `var-${name}`;
          return (
            <div class="field" key={`${name}:${value}`}>
              <label for={id}>{name}</label>
              {choices.length ? (
                <select id={id} value={value} onChange={(e) => save(name, (e.currentTarget as HTMLSelectElement).value)}>
                  <option value="">{t('card.none')}</option>
                  {[...new Set([...choices, ...(value ? [value] : [])])].map((choice) => (
                    <option key={choice} value={choice}>
                      {choice}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  id={id}
                  defaultValue={value}
                  onBlur={(e) => save(name, (e.currentTarget as HTMLInputElement).value.trim())}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter') (e.currentTarget as HTMLInputElement).blur();
                  }}
                />
              )}
            </div>
          );
        })}
      </div>
      {shown}
    </>
  );
}

function Deal({ dialog }: { dialog: string }) {
  const c = card.value;
  const { run, shown } = useRun(dialog);
  const pipelines = project.value?.pipelines ?? [];
  if (!c) return null;
  if (!pipelines.length) return <p class="muted">{t('card.none')}</p>;
  const current = c.deal ?? null;
  return (
    <>
      <label class="field">
        <span>{t('card.stage')}</span>
        <select
          value={current ? `${current.pipeline}/${current.stage}` : ''}
          onChange={(e) => {
            const [pipeline, stage] = (e.currentTarget as HTMLSelectElement).value.split('/');
            if (pipeline && stage) void run({ action: 'change_deal_stage', pipeline, stage });
          }}
        >
          {!current && <option value="">{t('card.none')}</option>}
          {pipelines.map((p) => (
            <optgroup key={p.pipeline} label={p.name}>
              {p.stages.map((s) => (
                <option key={s.id} value={`${p.pipeline}/${s.id}`}>
                  {s.name}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
      </label>
      {shown}
    </>
  );
}

function Tasks({ dialog }: { dialog: string }) {
  const c = card.value;
  const { run, shown } = useRun(dialog);
  if (!c) return null;
  return (
    <>
      {c.tasks.length ? (
        <ul class="task-list">
          {c.tasks.map((task) => (
            <li key={task.task} class={task.done ? 'done' : ''}>
              <label>
                <input
                  type="checkbox"
                  checked={task.done}
                  disabled={task.done}
                  onChange={() => void run({ action: 'complete_task', task: task.task })}
                />{' '}
                {task.text}
              </label>
              {task.due && <span class="muted"> · {fullTime(task.due)}</span>}
            </li>
          ))}
        </ul>
      ) : (
        <p class="muted">{t('card.none')}</p>
      )}
      {shown}
      <DefinitionForm
        id="new-task"
        class="compact"
        label={t('card.task_new')}
        fields={[
          { name: 'text', label: t('card.task_text'), kind: 'text', required: true },
          { name: 'due', label: t('card.task_due'), kind: 'datetime-local' },
        ]}
        initial={{ text: '', due: '' }}
        submitLabel={t('card.task_add')}
        clearOnSuccess
        submit={async (v) => {
          const due = typeof v.due === 'string' && v.due ? new Date(v.due).toISOString() : null;
          await change(dialog, { action: 'create_task', text: String(v.text ?? ''), due });
        }}
      />
    </>
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
      <button type="button" class="back-to-chat" onClick={() => (cardShown.value = false)}>
        {t('card.back')}
      </button>
      <Actions dialog={dialog} />
      {c && c.dialog === dialog && (
        <CardBody dialog={dialog} none={none} tags={tags} lists={lists} folders={folders} />
      )}
    </aside>
  );
}

function CardBody({ dialog, none, tags, lists, folders }: {
  dialog: string;
  none: preact.JSX.Element;
  tags: { tag: string; name: string; color: string }[];
  lists: { id: string; name: string }[];
  folders: { folder: string; name: string }[];
}) {
  const c = card.value;
  const { run, shown } = useRun(dialog);
  if (!c) return null;
  const tagChips = tags.map((x) => ({ id: x.tag, name: x.name, color: x.color }));
  const listChips = lists.map((x) => ({ id: x.id, name: x.name }));
  const folderChips = folders.map((x) => ({ id: x.folder, name: x.name }));
  const chosen = (all: Chip[], ids: string[]) => ids.map((id) => all.find((x) => x.id === id) ?? { id, name: id });
  return (
    <div class="card">
      <h2>{c.profile.name ?? t('card.number', { n: c.number })}</h2>
      <dl>
        <dt>{t('card.id')}</dt>
        <dd>#{c.number}</dd>
        <Term label={t('card.phone')} value={c.profile.phone} />
        <Term label={t('card.email')} value={c.profile.email} />
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
        <Chips
          label={t('card.tags')}
          have={chosen(tagChips, c.tags)}
          all={tagChips}
          add={(id) => void run({ action: 'add_tags', tags: [id] })}
          remove={(id) => void run({ action: 'remove_tags', tags: [id] })}
        />
      </Section>
      <Section title={t('card.variables')}>
        <Variables dialog={dialog} />
      </Section>
      <Section title={t('card.lists')}>
        <Chips
          label={t('card.lists')}
          have={chosen(listChips, c.lists)}
          all={listChips}
          add={(id) => void run({ action: 'join_lists', lists: [id] })}
          remove={(id) => void run({ action: 'leave_lists', lists: [id] })}
        />
      </Section>
      <Section title={t('card.folders')}>
        <Chips
          label={t('card.folders')}
          have={chosen(folderChips, c.folders)}
          all={folderChips}
          add={(id) => void run({ action: 'join_folders', folders: [id] })}
          remove={(id) => void run({ action: 'leave_folders', folders: [id] })}
        />
      </Section>
      {shown}
      {c.funnel_block && (
        <Section title={t('card.funnel')}>
          <p>{c.funnel_block.name}</p>
        </Section>
      )}
      <Section title={t('card.deal')}>
        <Deal dialog={dialog} />
      </Section>
      <Section title={t('card.tasks')}>
        <Tasks dialog={dialog} />
      </Section>
      <Section title={t('card.note')}>
        <DefinitionForm
          id="new-note"
          class="compact"
          label={t('card.note')}
          fields={[{ name: 'text', label: t('card.note_text'), kind: 'textarea', required: true }]}
          initial={{ text: '' }}
          submitLabel={t('card.note_add')}
          clearOnSuccess
          submit={(v) => change(dialog, { action: 'add_note', text: String(v.text ?? '') })}
        />
      </Section>
    </div>
  );
}
