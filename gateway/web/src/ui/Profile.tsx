// The operator's profile (item 2): the language of the inbox and the notification switches,
// kept on the server (`/v1/profile`), so they follow the person to every browser.

import { useSignal } from '@preact/signals';
import { t } from '../i18n';
import { me, profile, project, saveProfile } from '../state';
import { askPermission } from '../notifier';
import { DefinitionForm, type FieldSpec } from './Form';

export function Profile() {
  const saved = useSignal(false);
  const blocked = useSignal('Notification' in window && Notification.permission === 'denied');
  const current = profile.value;
  const operator = project.value?.operators.find((o) => o.operator === me.value?.operator);
  if (!current) return <p class="loading">{t('list.loading')}</p>;
  const fields: FieldSpec[] = [
    {
      name: 'language',
      label: t('lang.label'),
      kind: 'select',
      options: [
        { value: '', label: t('profile.browser_language') },
        { value: 'en', label: t('lang.en') },
        { value: 'ru', label: t('lang.ru') },
      ],
    },
    { name: 'notifications', label: t('profile.notifications'), kind: 'checkbox', hint: t('profile.notifications_hint') },
    { name: 'sound', label: t('profile.sound'), kind: 'checkbox' },
  ];
  return (
    <main class="profile" aria-labelledby="profile-title">
      <h1 id="profile-title">{t('profile.title')}</h1>
      {operator && (
        <p class="muted">
          {operator.name} · {operator.email} · {t(operator.role === 'admin' ? 'role.admin' : 'role.operator')}
        </p>
      )}
      <DefinitionForm
        id="profile"
        label={t('profile.title')}
        fields={fields}
        initial={{ language: current.language ?? '', notifications: current.notifications, sound: current.sound }}
        submitLabel={t('admin.save')}
        submit={async (v) => {
          saved.value = false;
          const language = v.language === 'en' || v.language === 'ru' ? v.language : null;
          await saveProfile({ language, notifications: v.notifications === true, sound: v.sound === true });
          saved.value = true;
          if (v.notifications === true) blocked.value = (await askPermission()) === 'denied';
        }}
      />
      {blocked.value && current.notifications && <p class="form-error">{t('profile.blocked')}</p>}
      {saved.value && (
        <p class="saved" role="status">
          {t('admin.saved')}
        </p>
      )}
    </main>
  );
}
