// The filter panel (F2.2–F2.6): groups of conditions joined by AND or OR, every F2.3 filter,
// applied to the list in the API's JSON form (`lib/filterModel`), reset, and saved filters —
// save the current one under a name, apply one, delete one (project actions `save_filter`,
// `delete_filter`). The button above the list shows how many conditions are active.

import { signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiFailure, api, ok } from '../api/client';
import type { ProjectAction, TagCount } from '../api/types';
import { t, type Key } from '../i18n';
import {
  EDITOR,
  KINDS,
  buildFilter,
  condition,
  countConditions,
  parseFilter,
  type Condition,
  type FilterNode,
  type Join,
  type Kind,
  type Panel,
} from '../lib/filterModel';
import { archived, clearPicked, listFilter, project, reloadList } from '../state';
import { messageOf } from './Form';

const filterOpen = signal(false);
/** A fresh panel: one group with one condition to fill. */
const blank = (): Panel => ({ join: 'all', groups: [{ join: 'all', conditions: [condition('tags_any')] }] });
/** The panel as it is being edited (applied with Apply). */
const draft = signal<Panel>(blank());
/** The applied filter came from a saved one the panel cannot show. */
const unsupported = signal(false);
const chosen = signal('');
const saveName = signal('');
const error = signal<{ field: string | null; message: string } | null>(null);
const notice = signal<string | null>(null);
/** F2.5: the tags most used first, with their colours and counts (loaded as the panel opens). */
const picker = signal<TagCount[] | null>(null);

function edit(change: (panel: Panel) => void): void {
  const next = structuredClone(draft.value);
  change(next);
  draft.value = next;
  unsupported.value = false;
}

function failure(e: unknown): { field: string | null; message: string } {
  return { field: e instanceof ApiFailure ? e.field : null, message: messageOf(e) };
}

async function applyFilter(node: FilterNode | null): Promise<void> {
  listFilter.value = node;
  clearPicked();
  error.value = null;
  try {
    await reloadList();
  } catch (e) {
    error.value = failure(e);
  }
}

export function FilterButton() {
  // As the API counts them (its `active_filters`), known before the page arrives.
  const n = countConditions(listFilter.value);
  return (
    <button
      class={n > 0 ? 'filter-button on' : 'filter-button'}
      aria-expanded={filterOpen.value}
      aria-controls="filter-panel"
      aria-label={n > 0 ? `${t('filter.button')}, ${t('filter.active', { n })}` : t('filter.button')}
      onClick={() => (filterOpen.value = !filterOpen.value)}
    >
      {t('filter.button')}
      {n > 0 && (
        <span class="count" data-testid="filter-count">
          {n}
        </span>
      )}
    </button>
  );
}

interface Choice {
  id: string;
  name: string;
  /** A tag's colour and how many dialogs carry it (F2.5). */
  color?: string;
  count?: number;
}

function choicesOf(kind: Kind): Choice[] {
  const p = project.value;
  if (!p) return [];
  switch (kind) {
    case 'channels':
      return p.channels.map((c) => ({ id: c.channel, name: c.name }));
    case 'tags_any':
    case 'tags_all':
    case 'tags_none':
      return picker.value
        ? picker.value.map((tag) => ({ id: tag.tag, name: tag.name, color: tag.color, count: tag.dialogs }))
        : p.tags.map((tag) => ({ id: tag.tag, name: tag.name, color: tag.color }));
    case 'lists_any':
    case 'lists_none':
      return p.lists.map((l) => ({ id: l.id, name: l.name }));
    case 'deal_stages':
      return p.pipelines.flatMap((pl) => pl.stages.map((s) => ({ id: s.id, name: `${pl.name}: ${s.name}` })));
    default:
      return [];
  }
}

function JoinSelect({ id, label, value, onChange }: { id: string; label: string; value: Join; onChange: (j: Join) => void }) {
  return (
    <span class="join">
      <label for={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value as Join)}>
        <option value="all">{t('filter.join.all')}</option>
        <option value="any">{t('filter.join.any')}</option>
      </select>
    </span>
  );
}

function ValueEditor({ c, id, set }: { c: Condition; id: string; set: (patch: Partial<Condition>) => void }) {
  const input = (key: 'text' | 'text2', label: string, type = 'text', extra: Record<string, string> = {}) => (
    <span class="value">
      <label for={`${id}-${key}`} class="visually-hidden">
        {label}
      </label>
      <input
        id={`${id}-${key}`}
        type={type}
        value={c[key]}
        placeholder={type === 'text' ? label : undefined}
        title={label}
        onInput={(e) => set({ [key]: (e.currentTarget as HTMLInputElement).value })}
        {...extra}
      />
    </span>
  );
  switch (EDITOR[c.kind]) {
    case 'none':
      return null;
    case 'ids': {
      const choices = choicesOf(c.kind);
      if (choices.length === 0) return <span class="hint">{t('filter.none_defined')}</span>;
      return (
        <fieldset class="choices">
          <legend class="visually-hidden">{t(`filter.kind.${c.kind}` as Key)}</legend>
          {choices.map((choice) => (
            <label key={choice.id}>
              <input
                type="checkbox"
                checked={c.ids.includes(choice.id)}
                onChange={(e) => {
                  const on = (e.currentTarget as HTMLInputElement).checked;
                  set({ ids: on ? [...c.ids, choice.id] : c.ids.filter((x) => x !== choice.id) });
                }}
              />
              {choice.color && <span class="swatch" style={{ background: choice.color }} aria-hidden="true" />}
              {choice.name}
              {choice.count !== undefined && <span class="hint"> ({choice.count})</span>}
            </label>
          ))}
        </fieldset>
      );
    }
    case 'operator':
      return (
        <span class="value">
          <label for={`${id}-text`} class="visually-hidden">
            {t('filter.operator')}
          </label>
          <select id={`${id}-text`} value={c.text} onChange={(e) => set({ text: (e.currentTarget as HTMLSelectElement).value })}>
            <option value="">—</option>
            {(project.value?.operators ?? []).map((o) => (
              <option key={o.operator} value={o.operator}>
                {o.name}
              </option>
            ))}
          </select>
        </span>
      );
    case 'status':
    case 'author': {
      const values = EDITOR[c.kind] === 'status' ? ['open', 'closed'] : ['client', 'operator', 'bot'];
      const prefix = EDITOR[c.kind] === 'status' ? 'filter.status' : 'filter.author';
      return (
        <span class="value">
          <label for={`${id}-text`} class="visually-hidden">
            {t('filter.value')}
          </label>
          <select id={`${id}-text`} value={c.text} onChange={(e) => set({ text: (e.currentTarget as HTMLSelectElement).value })}>
            {values.map((v) => (
              <option key={v} value={v}>
                {t(`${prefix}.${v}` as Key)}
              </option>
            ))}
          </select>
        </span>
      );
    }
    case 'date':
      return input('text', t('filter.day'), 'date');
    case 'dates':
      return (
        <>
          {input('text', t('filter.from'), 'date')}
          {input('text2', t('filter.to'), 'date')}
        </>
      );
    case 'variable':
      return (
        <>
          {input('text', t('filter.var_name'), 'text', { list: 'filter-variables' })}
          {input('text2', t('filter.var_value'))}
        </>
      );
    case 'digits':
      return input('text', t('filter.digits'), 'text', { inputmode: 'numeric', pattern: '[0-9]*' });
    case 'words':
      return input('text', t('filter.blocks'));
  }
}

function ConditionRow({ c, g, i }: { c: Condition; g: number; i: number }) {
  const id = `filter-${g}-${i}`;
  const set = (patch: Partial<Condition>) =>
    edit((p) => {
      const group = p.groups[g];
      if (group) group.conditions[i] = { ...(group.conditions[i] as Condition), ...patch };
    });
  return (
    <li class="condition">
      <label for={`${id}-kind`} class="visually-hidden">
        {t('filter.kind')}
      </label>
      <select
        id={`${id}-kind`}
        value={c.kind}
        onChange={(e) => set(condition((e.currentTarget as HTMLSelectElement).value as Kind))}
      >
        {KINDS.map((k) => (
          <option key={k} value={k}>
            {t(`filter.kind.${k}` as Key)}
          </option>
        ))}
      </select>
      <ValueEditor c={c} id={id} set={set} />
      <button
        class="link remove"
        aria-label={t('filter.remove')}
        title={t('filter.remove')}
        onClick={() => edit((p) => p.groups[g]?.conditions.splice(i, 1))}
      >
        ✕
      </button>
    </li>
  );
}

function Saved() {
  const saved = project.value?.saved_filters ?? [];
  const pick = saved.find((f) => f.filter === chosen.value);
  const nameError = error.value?.field === 'name' ? error.value.message : null;
  const applySaved = () => {
    if (!pick) return;
    const node = pick.query as unknown as FilterNode;
    const panel = parseFilter(node);
    draft.value = panel ?? blank();
    unsupported.value = panel === null;
    notice.value = null;
    void applyFilter(node);
  };
  const remove = async () => {
    if (!pick) return;
    await projectAction({ action: 'delete_filter', filter: pick.filter }, t('saved.deleted', { name: pick.name }));
    chosen.value = '';
  };
  const save = async () => {
    const node = unsupported.value ? listFilter.value : buildFilter(draft.value);
    if (!node) {
      error.value = { field: 'query', message: t('saved.empty') };
      return;
    }
    const name = saveName.value.trim();
    const seq = await projectAction({ action: 'save_filter', name, query: node }, t('saved.saved', { name }));
    if (seq !== null) {
      saveName.value = '';
      // The saved filter is the one shown: pick it.
      chosen.value = project.value?.saved_filters.find((f) => f.name === name)?.filter ?? '';
    }
  };
  return (
    <section class="saved" aria-labelledby="saved-title">
      <h3 id="saved-title">{t('saved.label')}</h3>
      <div class="saved-row">
        <label for="saved-pick" class="visually-hidden">
          {t('saved.pick')}
        </label>
        <select id="saved-pick" value={chosen.value} onChange={(e) => (chosen.value = (e.currentTarget as HTMLSelectElement).value)}>
          <option value="">{t('saved.choose')}</option>
          {saved.map((f) => (
            <option key={f.filter} value={f.filter}>
              {f.name}
            </option>
          ))}
        </select>
        <button disabled={!pick} onClick={applySaved}>
          {t('saved.apply')}
        </button>
        <button disabled={!pick} onClick={() => void remove()}>
          {t('saved.delete')}
        </button>
      </div>
      <form
        class="saved-row"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label for="saved-name" class="visually-hidden">
          {t('saved.name')}
        </label>
        <input
          id="saved-name"
          placeholder={t('saved.name')}
          title={t('saved.name')}
          value={saveName.value}
          required
          aria-invalid={nameError ? 'true' : undefined}
          aria-describedby={nameError ? 'saved-name-error' : undefined}
          onInput={(e) => (saveName.value = (e.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit">{t('saved.save')}</button>
      </form>
      {nameError && (
        <p class="field-error" id="saved-name-error" role="alert">
          {nameError}
        </p>
      )}
    </section>
  );
}

/** A project action, then the definitions again (with the new saved filters); its seq or null. */
async function projectAction(body: ProjectAction, done: string): Promise<number | null> {
  error.value = null;
  notice.value = null;
  try {
    const answer = await ok(
      api.POST('/v1/project/actions', { body, headers: { 'idempotency-key': crypto.randomUUID() } }),
    );
    project.value = await ok(api.GET('/v1/project', { params: { query: { min_seq: answer.seq } } }));
    notice.value = done;
    return answer.seq;
  } catch (e) {
    error.value = failure(e);
    return null;
  }
}

async function loadPicker(): Promise<void> {
  try {
    picker.value = await ok(api.GET('/v1/tags/picker'));
  } catch {
    picker.value = null; // The project's order, without counts.
  }
}

export function FilterPanel() {
  useEffect(() => {
    if (filterOpen.value) void loadPicker();
  }, [filterOpen.value]);
  if (!filterOpen.value) return null;
  const panel = draft.value;
  const pending = buildFilter(panel);
  const otherError = error.value && error.value.field !== 'name' ? error.value.message : null;
  return (
    <section id="filter-panel" class="filter-panel" aria-labelledby="filter-title">
      <h2 id="filter-title">{t('filter.title')}</h2>
      <Saved />
      {unsupported.value && <p class="hint">{t('filter.unsupported')}</p>}
      {panel.groups.length > 1 && (
        <JoinSelect id="filter-join" label={t('filter.join')} value={panel.join} onChange={(j) => edit((p) => (p.join = j))} />
      )}
      {panel.groups.map((group, g) => (
        <fieldset class="filter-group" key={g}>
          <legend>{t('filter.group', { n: g + 1 })}</legend>
          {group.conditions.length > 1 && (
            <JoinSelect
              id={`filter-join-${g}`}
              label={t('filter.group_join')}
              value={group.join}
              onChange={(j) => edit((p) => ((p.groups[g] as { join: Join }).join = j))}
            />
          )}
          <ul>
            {group.conditions.map((c, i) => (
              <ConditionRow key={`${g}-${i}`} c={c} g={g} i={i} />
            ))}
          </ul>
          <div class="group-buttons">
            <button onClick={() => edit((p) => p.groups[g]?.conditions.push(condition('tags_any')))}>{t('filter.add')}</button>
            {panel.groups.length > 1 && (
              <button class="link" onClick={() => edit((p) => p.groups.splice(g, 1))}>
                {t('filter.remove_group')}
              </button>
            )}
          </div>
        </fieldset>
      ))}
      <datalist id="filter-variables">
        {(project.value?.variables ?? []).map((v) => (
          <option key={v.name} value={v.name} />
        ))}
      </datalist>
      <div class="filter-buttons">
        <button onClick={() => edit((p) => p.groups.push({ join: 'all', conditions: [condition('tags_any')] }))}>
          {t('filter.add_group')}
        </button>
        <span class="spring" />
        <button
          onClick={() => {
            draft.value = blank();
            unsupported.value = false;
            chosen.value = '';
            void applyFilter(null);
          }}
        >
          {t('filter.reset')}
        </button>
        <button
          class="primary"
          onClick={() => void applyFilter(unsupported.value ? listFilter.value : pending)}
          data-count={countConditions(pending)}
        >
          {t('filter.apply')}
        </button>
      </div>
      <p class="hint">{t('filter.incomplete')}</p>
      {!archived.value && panel.groups.some((g) => g.conditions.some((c) => c.kind === 'status' && c.text === 'closed')) && (
        <p class="hint" data-testid="closed-hint">
          {t('filter.closed_hint')}
        </p>
      )}
      {otherError && (
        <p class="form-error" role="alert">
          {otherError}
        </p>
      )}
      {notice.value && (
        <p class="saved-notice" role="status">
          {notice.value}
        </p>
      )}
    </section>
  );
}
