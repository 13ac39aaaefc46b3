// Sign-in (email + password) and the first run (an empty installation: the first project and
// its admin, given the root token). What was typed stays in module signals, so an error, a
// failed request or a language switch loses nothing.

import { signal } from '@preact/signals';
import { ApiFailure, api, keepCsrf, ok } from '../api/client';
import { t } from '../i18n';
import { loadInbox, me, screen } from '../state';
import { Field } from './Field';
import { LangSwitch } from './LangSwitch';

const email = signal('');
const password = signal('');
const rootToken = signal('');
const projectName = signal('');
const adminName = signal('');
const busy = signal(false);
const errors = signal<Record<string, string>>({});

/** Which of the form's fields an API error names (`admin.email` → `email`), else `form`. */
export function fieldOf(error: ApiFailure, fields: readonly string[]): string {
  if (error.code === 'network') return 'form';
  const name = error.field?.split('.').pop() ?? '';
  const mapped = error.field?.startsWith('admin.') && name === 'name' ? 'admin_name' : name;
  return fields.includes(mapped) ? mapped : 'form';
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiFailure) return error.code === 'network' ? t('error.network') : error.message;
  return t('error.generic', { message: String(error) });
}

async function signIn(): Promise<void> {
  const answer = await ok(
    api.POST('/v1/auth/login', { body: { email: email.value, password: password.value } }),
  );
  keepCsrf(answer.csrf);
  me.value = await ok(api.GET('/v1/auth/me'));
  password.value = '';
  screen.value = 'inbox';
  await loadInbox();
}

async function submit(e: Event, run: () => Promise<void>, fields: readonly string[]) {
  e.preventDefault();
  if (busy.value) return;
  busy.value = true;
  errors.value = {};
  try {
    await run();
  } catch (error) {
    const field = error instanceof ApiFailure ? fieldOf(error, fields) : 'form';
    errors.value = { [field]: messageOf(error) };
  } finally {
    busy.value = false;
  }
}

function FormError() {
  const message = errors.value.form;
  return message ? (
    <p class="form-error" role="alert" id="form-error">
      {message}
    </p>
  ) : null;
}

export function SignIn() {
  const e = errors.value;
  return (
    <main class="auth" aria-labelledby="signin-title">
      <div class="auth-top">
        <span class="brand">{t('app.name')}</span>
        <LangSwitch />
      </div>
      <form
        class="auth-card"
        noValidate
        onSubmit={(event) => submit(event, signIn, ['email', 'password'])}
      >
        <h1 id="signin-title">{t('signin.title')}</h1>
        <Field id="email" label={t('signin.email')} type="email" value={email} error={e.email ?? null} autocomplete="username" />
        <Field id="password" label={t('signin.password')} type="password" value={password} error={e.password ?? null} autocomplete="current-password" />
        <FormError />
        <button type="submit" class="primary" disabled={busy.value}>
          {busy.value ? t('signin.busy') : t('signin.submit')}
        </button>
      </form>
    </main>
  );
}

async function createProject(): Promise<void> {
  const created = ok(
    api.POST('/v1/projects', {
      body: {
        name: projectName.value,
        admin: { name: adminName.value, email: email.value, password: password.value },
      },
      headers: { authorization: `Bearer ${rootToken.value.trim()}`, 'idempotency-key': crypto.randomUUID() },
    }),
  );
  await created.catch((error: unknown) => {
    // A wrong root token is the token field's error.
    if (error instanceof ApiFailure && (error.status === 401 || error.status === 403)) {
      throw new ApiFailure(error.status, error.code, error.message, 'root');
    }
    throw error;
  });
  rootToken.value = '';
  await signIn();
}

export function Setup() {
  const e = errors.value;
  const fields = ['root', 'name', 'admin_name', 'email', 'password'];
  return (
    <main class="auth" aria-labelledby="setup-title">
      <div class="auth-top">
        <span class="brand">{t('app.name')}</span>
        <LangSwitch />
      </div>
      <form class="auth-card" noValidate onSubmit={(event) => submit(event, createProject, fields)}>
        <h1 id="setup-title">{t('setup.title')}</h1>
        <p class="hint">{t('setup.intro')}</p>
        <Field id="root" label={t('setup.root')} type="password" value={rootToken} error={e.root ?? null} autocomplete="off" />
        <Field id="name" label={t('setup.project')} value={projectName} error={e.name ?? null} autocomplete="organization" />
        <Field id="admin_name" label={t('setup.admin_name')} value={adminName} error={e.admin_name ?? null} autocomplete="name" />
        <Field id="email" label={t('signin.email')} type="email" value={email} error={e.email ?? null} autocomplete="username" />
        <Field id="password" label={t('signin.password')} type="password" value={password} error={e.password ?? null} autocomplete="new-password" />
        <FormError />
        <button type="submit" class="primary" disabled={busy.value}>
          {t('setup.submit')}
        </button>
      </form>
    </main>
  );
}
