import { LANGS, lang, setLang, t, type Lang } from '../i18n';

export function LangSwitch() {
  return (
    <label class="lang">
      <span class="visually-hidden">{t('lang.label')}</span>
      <select
        aria-label={t('lang.label')}
        value={lang.value}
        onChange={(e) => setLang((e.currentTarget as HTMLSelectElement).value as Lang)}
      >
        {LANGS.map((l) => (
          <option value={l} key={l}>
            {t(l === 'en' ? 'lang.en' : 'lang.ru')}
          </option>
        ))}
      </select>
    </label>
  );
}
