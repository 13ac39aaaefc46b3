import { describe, expect, it } from 'vitest';
import { detect, dictionaries, translate } from '../../src/i18n';

describe('i18n', () => {
  it('picks the first of the browser languages it speaks, else English', () => {
    expect(detect(['ru-RU', 'en-US'])).toBe('ru');
    expect(detect(['de-DE', 'en-GB', 'ru'])).toBe('en');
    expect(detect(['de', 'fr'])).toBe('en');
    expect(detect([])).toBe('en');
  });

  it('translates with variables and falls back to English, then the key', () => {
    expect(translate('ru', 'signin.submit')).toBe('Войти');
    expect(translate('en', 'header.unread', { n: 3 })).toBe('3 unread');
    expect(translate('ru', 'header.unread', { n: 3 })).toBe('Непрочитанных: 3');
    // 'app.name' has no Russian entry: the English one is used.
    expect(translate('ru', 'app.name')).toBe('Switchboard');
    expect(translate('en', 'no.such.key' as never)).toBe('no.such.key');
  });

  it('has a Russian text for every English one but the product name', () => {
    const missing = Object.keys(dictionaries.en).filter((k) => !(k in dictionaries.ru));
    expect(missing.sort()).toEqual(['app.name', 'lang.en', 'lang.ru']);
  });
});
