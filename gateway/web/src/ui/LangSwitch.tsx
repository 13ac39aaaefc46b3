import { LANGS, lang, setLang, t, type Lang } from '../i18n';

/** `save`: also keep the choice elsewhere (the signed-in person's profile). */
export function LangSwitch({ save }: { save?: (lang: Lang) => void } = {}) {
  return (
    <label class="lang">
      <span class="visually-hidden">{t('lang.label')}</span>
      <select
        aria-label={t('lang.label')}
        value={lang.value}
        onChange={(e) => {
          const next = (e.currentTarget as HTMLSelectElement).value as Lang;
          setLang(next);
          save?.(next);
        }}
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
