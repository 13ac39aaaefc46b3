// Times as a list row and a timeline show them, in the UI's language.
import { lang, t } from '../i18n';

export function shortTime(iso: string | null | undefined, now = new Date()): string {
  if (!iso) return '';
  const at = new Date(iso);
  const locale = lang.value === 'ru' ? 'ru-RU' : 'en-GB';
  const sameDay = at.toDateString() === now.toDateString();
  if (sameDay) return at.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
  const yesterday = new Date(now);
  yesterday.setDate(now.getDate() - 1);
  if (at.toDateString() === yesterday.toDateString()) return t('time.yesterday');
  const sameYear = at.getFullYear() === now.getFullYear();
  return at.toLocaleDateString(locale, sameYear ? { day: 'numeric', month: 'short' } : { dateStyle: 'short' });
}

/** A date and time; `seconds` for a dialog's history, which tells apart events of one minute. */
export function fullTime(iso: string, seconds = false): string {
  const locale = lang.value === 'ru' ? 'ru-RU' : 'en-GB';
  return new Date(iso).toLocaleString(locale, { dateStyle: 'medium', timeStyle: seconds ? 'medium' : 'short' });
}
