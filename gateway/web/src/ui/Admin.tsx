// The admin screens (item 7): operators with their API tokens, channels (`Channels.tsx`),
// folders, tags, lists, variables, templates and the SLA thresholds — each a list of what
// exists and the shared definition form (`Form.tsx`) to add or change one. Reached from the
// header, for admins only (the API refuses the rest to anyone else anyway).

import { signal, useSignal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import { ApiFailure, api, ok } from '../api/client';
import type { TokenInfo } from '../api/types';
import { t, type Key } from '../i18n';
import { isColor, minutesToSeconds, parseChoices, secondsToMinutes, stagesOf } from '../lib/form';
import { me, project, projectAct, reloadProject } from '../state';
import { Channels } from './Channels';
import { LanguageSettings } from './LanguageTools';
import { DefinitionForm, FieldProblem, useAction, type FieldSpec, type Values } from './Form';
import { fullTime } from './format';

const SECTIONS = ['operators', 'tokens', 'channels', 'folders', 'tags', 'lists', 'variables', 'pipelines', 'templates', 'sla', 'translation'] as const;
type Section = (typeof SECTIONS)[number];
const section = signal<Section>('operators');

const str = (value: unknown) => (typeof value === 'string' ? value : '');

function confirmed(question: string): boolean {
  return window.confirm(question);
}

function Heading({ title, children }: { title: Key; children?: preact.ComponentChildren }) {
  return (
    <>
      <h2 id={`admin-${section.value}`}>{t(title)}</h2>
      {children}
    </>
  );
}

function Operators() {
  const { run, shown } = useAction();
  const people = project.value?.operators ?? [];
  const roles = [
    { value: 'operator', label: t('role.operator') },
    { value: 'admin', label: t('role.admin') },
  ];
  const fields: FieldSpec[] = [
    { name: 'name', label: t('admin.name'), kind: 'text', required: true },
    { name: 'email', label: t('signin.email'), kind: 'email', required: true, autocomplete: 'off' },
    { name: 'password', label: t('signin.password'), kind: 'password', required: true, autocomplete: 'new-password', hint: t('admin.password_hint') },
    { name: 'role', label: t('admin.role'), kind: 'select', options: roles },
    { name: 'can_delete', label: t('admin.can_delete'), kind: 'checkbox' },
  ];
  return (
    <Heading title="admin.operators">
      <table class="admin-table">
        <thead>
          <tr>
            <th scope="col">{t('admin.name')}</th>
            <th scope="col">{t('signin.email')}</th>
            <th scope="col">{t('admin.role')}</th>
            <th scope="col">{t('admin.can_delete')}</th>
            <th scope="col">{t('admin.state')}</th>
          </tr>
        </thead>
        <tbody>
          {people.map((o) => {
            const self = o.operator === me.value?.operator;
            const change = (role: string, canDelete: boolean) =>
              run(async () => {
                const answer = await ok(
                  api.POST('/v1/operators/{operator}/role', {
                    params: { path: { operator: o.operator } },
                    body: { role: role as 'admin' | 'operator', can_delete: canDelete },
                  }),
                );
                await reloadProject(answer.seq);
              });
            return (
              <tr key={o.operator} class={o.removed ? 'removed' : ''}>
                <th scope="row">{o.name}</th>
                <td>{o.email}</td>
                <td>
                  <select
                    aria-label={t('admin.role_of', { name: o.name })}
                    value={o.role}
                    disabled={o.removed || self}
                    onChange={(e) => void change((e.currentTarget as HTMLSelectElement).value, o.can_delete)}
                  >
                    {roles.map((r) => (
                      <option key={r.value} value={r.value}>
                        {r.label}
                      </option>
                    ))}
                  </select>
                </td>
                <td>
                  <label>
                    <input
                      type="checkbox"
                      aria-label={t('admin.can_delete_of', { name: o.name })}
                      checked={o.can_delete}
                      disabled={o.removed}
                      onChange={(e) => void change(o.role, (e.currentTarget as HTMLInputElement).checked)}
                    />{' '}
                    <span class="narrow-only" aria-hidden="true">
                      {t('admin.can_delete')}
                    </span>
                  </label>
                </td>
                <td>
                  {o.removed ? (
                    t('admin.deactivated')
                  ) : self ? (
                    t('admin.you')
                  ) : (
                    <button
                      class="danger"
                      aria-label={t('admin.deactivate_of', { name: o.name })}
                      onClick={() =>
                        confirmed(t('admin.deactivate_confirm', { name: o.name })) &&
                        void run(async () => {
                          const answer = await ok(
                            api.POST('/v1/operators/{operator}/deactivate', {
                              params: { path: { operator: o.operator } },
                            }),
                          );
                          await reloadProject(answer.seq);
                        })
                      }
                    >
                      {t('admin.deactivate')}
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {shown}
      <h3>{t('admin.operator_new')}</h3>
      <DefinitionForm
        id="new-operator"
        label={t('admin.operator_new')}
        fields={fields}
        initial={{ name: '', email: '', password: '', role: 'operator', can_delete: false }}
        submitLabel={t('admin.operator_add')}
        clearOnSuccess
        submit={async (v) => {
          const answer = await ok(
            api.POST('/v1/operators', {
              body: {
                name: str(v.name),
                email: str(v.email),
                password: str(v.password),
                role: v.role as 'admin' | 'operator',
                can_delete: v.can_delete === true,
              },
              headers: { 'idempotency-key': crypto.randomUUID() },
            }),
          ).catch((e: unknown) => {
            // The one refusal without a field: the email belongs to someone already.
            if (e instanceof ApiFailure && e.code === 'already_exists') throw new FieldProblem('email', e.message);
            throw e;
          });
          await reloadProject(answer.seq);
        }}
      />
    </Heading>
  );
}

const tokens = signal<TokenInfo[]>([]);
const issued = signal<{ name: string; token: string } | null>(null);

async function loadTokens(): Promise<void> {
  tokens.value = await ok(api.GET('/v1/tokens'));
}

function Tokens() {
  const { run, shown } = useAction();
  useEffect(() => {
    void run(loadTokens);
  }, []);
  const nameOf = (id: string) => project.value?.operators.find((o) => o.operator === id)?.name ?? id;
  return (
    <Heading title="admin.tokens">
      <p class="hint">{t('admin.tokens_intro')}</p>
      {issued.value && (
        <div class="issued" role="status">
          <p>{t('admin.token_once', { name: issued.value.name })}</p>
          <code>{issued.value.token}</code>
          <button onClick={() => (issued.value = null)}>{t('admin.token_hide')}</button>
        </div>
      )}
      {tokens.value.length ? (
        <table class="admin-table">
          <thead>
            <tr>
              <th scope="col">{t('admin.name')}</th>
              <th scope="col">{t('admin.token_acts_as')}</th>
              <th scope="col">{t('admin.created')}</th>
              <th scope="col">{t('admin.state')}</th>
            </tr>
          </thead>
          <tbody>
            {tokens.value.map((token) => (
              <tr key={token.id} class={token.revoked ? 'removed' : ''}>
                <th scope="row">{token.name}</th>
                <td>{nameOf(token.operator)}</td>
                <td>{fullTime(token.created_at)}</td>
                <td>
                  {token.revoked ? (
                    t('admin.revoked')
                  ) : (
                    <button
                      class="danger"
                      aria-label={t('admin.revoke_of', { name: token.name })}
                      onClick={() =>
                        confirmed(t('admin.revoke_confirm', { name: token.name })) &&
                        void run(async () => {
                          await ok(api.DELETE('/v1/tokens/{token}', { params: { path: { token: token.id } } }));
                          await loadTokens();
                        })
                      }
                    >
                      {t('admin.revoke')}
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p class="muted">{t('admin.none')}</p>
      )}
      {shown}
      <h3>{t('admin.token_new')}</h3>
      <DefinitionForm
        id="new-token"
        label={t('admin.token_new')}
        fields={[{ name: 'name', label: t('admin.token_name'), kind: 'text', required: true }]}
        initial={{ name: '' }}
        submitLabel={t('admin.token_create')}
        clearOnSuccess
        submit={async (v) => {
          const created = await ok(api.POST('/v1/tokens', { body: { name: str(v.name) } }));
          issued.value = { name: created.name, token: created.token };
          await loadTokens();
        }}
      />
    </Heading>
  );
}

/** A row's inline editor: a button that opens the shared form in place of the row's text. */
function Editable({ label, view, form }: {
  label: string;
  view: preact.ComponentChildren;
  form: (close: () => void) => preact.ComponentChildren;
}) {
  const editing = useSignal(false);
  if (editing.value) return <>{form(() => (editing.value = false))}</>;
  return (
    <>
      {view}
      <button onClick={() => (editing.value = true)} aria-label={label}>
        {t('admin.edit')}
      </button>
    </>
  );
}

const nameField = (): FieldSpec => ({ name: 'name', label: t('admin.name'), kind: 'text', required: true });

function Folders() {
  const { run, shown } = useAction();
  const folders = project.value?.folders ?? [];
  return (
    <Heading title="admin.folders">
      <ul class="admin-list">
        {folders.map((f) => (
          <li key={f.folder}>
            <Editable
              label={t('admin.rename_of', { name: f.name })}
              view={<span class="item-name">{f.name}</span>}
              form={(close) => (
                <DefinitionForm
                  id={`folder-${f.folder}`}
                  label={t('admin.rename_of', { name: f.name })}
                  class="inline"
                  fields={[nameField()]}
                  initial={{ name: f.name }}
                  submitLabel={t('admin.save')}
                  onCancel={close}
                  autoFocus
                  submit={async (v) => {
                    await projectAct({ action: 'rename_folder', folder: f.folder, name: str(v.name) });
                    close();
                  }}
                />
              )}
            />
            <label>
              <input
                type="checkbox"
                checked={f.push}
                onChange={(e) =>
                  void run(() =>
                    projectAct({
                      action: 'set_folder_notifications',
                      folder: f.folder,
                      push: (e.currentTarget as HTMLInputElement).checked,
                      sound: f.sound,
                    }),
                  )
                }
              />{' '}
              {t('admin.push')}
              <span class="visually-hidden"> {f.name}</span>
            </label>
            <label>
              <input
                type="checkbox"
                checked={f.sound}
                onChange={(e) =>
                  void run(() =>
                    projectAct({
                      action: 'set_folder_notifications',
                      folder: f.folder,
                      push: f.push,
                      sound: (e.currentTarget as HTMLInputElement).checked,
                    }),
                  )
                }
              />{' '}
              {t('admin.sound')}
              <span class="visually-hidden"> {f.name}</span>
            </label>
            <button
              class="danger"
              aria-label={t('admin.delete_of', { name: f.name })}
              onClick={() =>
                confirmed(t('admin.delete_confirm', { name: f.name })) &&
                void run(() => projectAct({ action: 'delete_folder', folder: f.folder }))
              }
            >
              {t('admin.delete')}
            </button>
          </li>
        ))}
      </ul>
      {!folders.length && <p class="muted">{t('admin.none')}</p>}
      {shown}
      <h3>{t('admin.folder_new')}</h3>
      <DefinitionForm
        id="new-folder"
        label={t('admin.folder_new')}
        fields={[nameField()]}
        initial={{ name: '' }}
        submitLabel={t('admin.create')}
        clearOnSuccess
        submit={(v) => projectAct({ action: 'create_folder', name: str(v.name) }).then(() => undefined)}
      />
    </Heading>
  );
}

const colorField = (): FieldSpec => ({ name: 'color', label: t('admin.color'), kind: 'color' });

async function defineTag(tag: string | null, v: Record<string, unknown>): Promise<void> {
  const color = str(v.color);
  if (!isColor(color)) throw new FieldProblem('color', t('admin.color_invalid'));
  await projectAct({ action: 'define_tag', tag, name: str(v.name), color });
}

function Tags() {
  const { run, shown } = useAction();
  const tags = project.value?.tags ?? [];
  return (
    <Heading title="admin.tags">
      <ul class="admin-list">
        {tags.map((tag) => (
          <li key={tag.tag}>
            <Editable
              label={t('admin.edit_of', { name: tag.name })}
              view={
                <span class="item-name">
                  <span class="swatch" style={{ background: tag.color }} aria-hidden="true" />
                  {tag.name}
                </span>
              }
              form={(close) => (
                <DefinitionForm
                  id={`tag-${tag.tag}`}
                  class="inline"
                  label={t('admin.edit_of', { name: tag.name })}
                  fields={[nameField(), colorField()]}
                  initial={{ name: tag.name, color: tag.color }}
                  submitLabel={t('admin.save')}
                  onCancel={close}
                  autoFocus
                  submit={async (v) => {
                    await defineTag(tag.tag, v);
                    close();
                  }}
                />
              )}
            />
            <button
              class="danger"
              aria-label={t('admin.delete_of', { name: tag.name })}
              onClick={() =>
                confirmed(t('admin.delete_confirm', { name: tag.name })) &&
                void run(() => projectAct({ action: 'delete_tag', tag: tag.tag }))
              }
            >
              {t('admin.delete')}
            </button>
          </li>
        ))}
      </ul>
      {!tags.length && <p class="muted">{t('admin.none')}</p>}
      {shown}
      <h3>{t('admin.tag_new')}</h3>
      <DefinitionForm
        id="new-tag"
        label={t('admin.tag_new')}
        fields={[nameField(), colorField()]}
        initial={{ name: '', color: '#1f5fc7' }}
        submitLabel={t('admin.create')}
        clearOnSuccess
        submit={(v) => defineTag(null, v)}
      />
    </Heading>
  );
}

function Lists() {
  const lists = project.value?.lists ?? [];
  return (
    <Heading title="admin.lists">
      <ul class="admin-list">
        {lists.map((l) => (
          <li key={l.id}>
            <Editable
              label={t('admin.rename_of', { name: l.name })}
              view={<span class="item-name">{l.name}</span>}
              form={(close) => (
                <DefinitionForm
                  id={`list-${l.id}`}
                  class="inline"
                  label={t('admin.rename_of', { name: l.name })}
                  fields={[nameField()]}
                  initial={{ name: l.name }}
                  submitLabel={t('admin.save')}
                  onCancel={close}
                  autoFocus
                  submit={async (v) => {
                    await projectAct({ action: 'define_list', list: l.id, name: str(v.name) });
                    close();
                  }}
                />
              )}
            />
          </li>
        ))}
      </ul>
      {!lists.length && <p class="muted">{t('admin.none')}</p>}
      <h3>{t('admin.list_new')}</h3>
      <DefinitionForm
        id="new-list"
        label={t('admin.list_new')}
        fields={[nameField()]}
        initial={{ name: '' }}
        submitLabel={t('admin.create')}
        clearOnSuccess
        submit={(v) => projectAct({ action: 'define_list', list: null, name: str(v.name) }).then(() => undefined)}
      />
    </Heading>
  );
}

function Variables() {
  const variables = project.value?.variables ?? [];
  const fields: FieldSpec[] = [
    { name: 'name', label: t('admin.name'), kind: 'text', required: true, hint: t('admin.variable_hint') },
    { name: 'choices', label: t('admin.choices'), kind: 'textarea', hint: t('admin.choices_hint') },
  ];
  return (
    <Heading title="admin.variables">
      <table class="admin-table">
        <thead>
          <tr>
            <th scope="col">{t('admin.name')}</th>
            <th scope="col">{t('admin.choices')}</th>
          </tr>
        </thead>
        <tbody>
          {variables.map((v) => (
            <tr key={v.name}>
              <th scope="row">{v.name}</th>
              <td>{v.choices.length ? v.choices.join(', ') : <span class="muted">{t('admin.free_text')}</span>}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h3>{t('admin.variable_new')}</h3>
      <DefinitionForm
        id="new-variable"
        label={t('admin.variable_new')}
        fields={fields}
        initial={{ name: '', choices: '' }}
        submitLabel={t('admin.save')}
        clearOnSuccess
        submit={(v) =>
          projectAct({ action: 'define_variable', name: str(v.name), choices: parseChoices(str(v.choices)) }).then(
            () => undefined,
          )
        }
      />
    </Heading>
  );
}

function Pipelines() {
  const pipelines = project.value?.pipelines ?? [];
  const fields = (): FieldSpec[] => [
    nameField(),
    { name: 'stages', label: t('admin.stages'), kind: 'textarea', required: true, hint: t('admin.stages_hint') },
  ];
  return (
    <Heading title="admin.pipelines">
      <ul class="admin-list">
        {pipelines.map((p) => (
          <li key={p.pipeline}>
            <Editable
              label={t('admin.edit_of', { name: p.name })}
              view={
                <span class="item-name">
                  <strong>{p.name}</strong> <span class="muted">{p.stages.map((s) => s.name).join(' → ')}</span>
                </span>
              }
              form={(close) => (
                <DefinitionForm
                  id={`pipeline-${p.pipeline}`}
                  class="inline"
                  label={t('admin.edit_of', { name: p.name })}
                  fields={fields()}
                  initial={{ name: p.name, stages: p.stages.map((s) => s.name).join('\n') }}
                  submitLabel={t('admin.save')}
                  onCancel={close}
                  autoFocus
                  submit={async (v) => {
                    const stages = stagesOf(str(v.stages), p.stages);
                    await projectAct({ action: 'define_pipeline', pipeline: p.pipeline, name: str(v.name), stages });
                    close();
                  }}
                />
              )}
            />
          </li>
        ))}
      </ul>
      {!pipelines.length && <p class="muted">{t('admin.none')}</p>}
      <h3>{t('admin.pipeline_new')}</h3>
      <DefinitionForm
        id="new-pipeline"
        label={t('admin.pipeline_new')}
        fields={fields()}
        initial={{ name: '', stages: '' }}
        submitLabel={t('admin.create')}
        clearOnSuccess
        submit={(v) =>
          projectAct({ action: 'define_pipeline', pipeline: null, name: str(v.name), stages: stagesOf(str(v.stages), []) }).then(
            () => undefined,
          )
        }
      />
    </Heading>
  );
}

/** A template's fields (here and where a message is saved as one). */
export const templateFields = (): FieldSpec[] => [nameField(), { name: 'text', label: t('admin.text'), kind: 'textarea', required: true }];

/** Saves a template (`null`: a new one) from its form's values. */
export function saveTemplate(template: string | null, v: Values): Promise<number> {
  return projectAct({ action: 'save_template', template, name: str(v.name), text: str(v.text) });
}

function Templates() {
  const { run, shown } = useAction();
  const templates = project.value?.templates ?? [];
  return (
    <Heading title="admin.templates">
      <ul class="admin-list">
        {templates.map((tpl) => (
          <li key={tpl.template}>
            <Editable
              label={t('admin.edit_of', { name: tpl.name })}
              view={
                <span class="item-name">
                  <strong>{tpl.name}</strong> <span class="muted">{tpl.text}</span>
                </span>
              }
              form={(close) => (
                <DefinitionForm
                  id={`template-${tpl.template}`}
                  class="inline"
                  label={t('admin.edit_of', { name: tpl.name })}
                  fields={templateFields()}
                  initial={{ name: tpl.name, text: tpl.text }}
                  submitLabel={t('admin.save')}
                  onCancel={close}
                  autoFocus
                  submit={async (v) => {
                    await saveTemplate(tpl.template, v);
                    close();
                  }}
                />
              )}
            />
            <button
              class="danger"
              aria-label={t('admin.delete_of', { name: tpl.name })}
              onClick={() =>
                confirmed(t('admin.delete_confirm', { name: tpl.name })) &&
                void run(() => projectAct({ action: 'delete_template', template: tpl.template }))
              }
            >
              {t('admin.delete')}
            </button>
          </li>
        ))}
      </ul>
      {!templates.length && <p class="muted">{t('admin.none')}</p>}
      {shown}
      <h3>{t('admin.template_new')}</h3>
      <DefinitionForm
        id="new-template"
        label={t('admin.template_new')}
        fields={templateFields()}
        initial={{ name: '', text: '' }}
        submitLabel={t('admin.create')}
        clearOnSuccess
        submit={(v) => saveTemplate(null, v).then(() => undefined)}
      />
    </Heading>
  );
}

function Sla() {
  const sla = project.value?.sla;
  const saved = useSignal(false);
  const fields: FieldSpec[] = [
    { name: 'yellow_after_secs', label: t('admin.sla_yellow'), kind: 'number', required: true },
    { name: 'red_after_secs', label: t('admin.sla_red'), kind: 'number', required: true },
  ];
  return (
    <Heading title="admin.sla">
      <p class="hint">{t('admin.sla_intro')}</p>
      <DefinitionForm
        id="sla"
        label={t('admin.sla')}
        fields={fields}
        initial={{
          yellow_after_secs: sla ? secondsToMinutes(sla.yellow_after_secs) : '',
          red_after_secs: sla ? secondsToMinutes(sla.red_after_secs) : '',
        }}
        submitLabel={t('admin.save')}
        submit={async (v) => {
          saved.value = false;
          const yellow = minutesToSeconds(str(v.yellow_after_secs));
          if (yellow === null) throw new FieldProblem('yellow_after_secs', t('admin.minutes_invalid'));
          const red = minutesToSeconds(str(v.red_after_secs));
          if (red === null) throw new FieldProblem('red_after_secs', t('admin.minutes_invalid'));
          await projectAct({ action: 'set_sla_thresholds', yellow_after_secs: yellow, red_after_secs: red });
          saved.value = true;
        }}
      />
      {saved.value && (
        <p class="saved" role="status">
          {t('admin.saved')}
        </p>
      )}
    </Heading>
  );
}

function ChannelsScreen() {
  return (
    <Heading title="admin.channels">
      <Channels />
    </Heading>
  );
}

function TranslationScreen() {
  return (
    <Heading title="admin.translation">
      <LanguageSettings />
    </Heading>
  );
}

const SCREENS: Record<Section, () => preact.JSX.Element> = {
  operators: Operators,
  tokens: Tokens,
  channels: ChannelsScreen,
  folders: Folders,
  tags: Tags,
  lists: Lists,
  variables: Variables,
  pipelines: Pipelines,
  templates: Templates,
  sla: Sla,
  translation: TranslationScreen,
};

export function Admin() {
  const Screen = SCREENS[section.value];
  return (
    <div class="admin">
      <nav class="admin-nav" aria-label={t('admin.title')}>
        <h1>{t('admin.title')}</h1>
        <ul>
          {SECTIONS.map((s) => (
            <li key={s}>
              <button
                class={section.value === s ? 'selected' : ''}
                aria-current={section.value === s ? 'page' : undefined}
                onClick={() => (section.value = s)}
              >
                {t(`admin.${s}` as Key)}
              </button>
            </li>
          ))}
        </ul>
      </nav>
      <main class="admin-main" aria-labelledby={`admin-${section.value}`}>
        <Screen key={section.value} />
      </main>
    </div>
  );
}
