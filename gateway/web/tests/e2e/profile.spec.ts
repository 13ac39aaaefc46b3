// The profile: the language and the notification switches, kept on the server — a reload
// with the browser's own memory of the language wiped still speaks the chosen one.
import { expect, test } from '@playwright/test';
import { look, operators, signIn } from './helpers';

test("the profile's language is kept after a reload; the switches too", async ({ page }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await signIn(page, operators()[1]!);
  await page.getByRole('button', { name: 'Profile' }).click();
  await expect(page).toHaveURL(/\/profile$/);
  const form = page.getByRole('form', { name: 'Profile' });
  await look(page, 'profile-1440-en');
  await page.setViewportSize({ width: 390, height: 900 });
  await look(page, 'profile-390-en');
  await page.setViewportSize({ width: 1440, height: 900 });

  await form.getByLabel('Language').selectOption('ru');
  await form.getByLabel('A sound with each notification').uncheck();
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Профиль' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'ru');

  // The browser forgets; the server does not.
  await page.evaluate(() => window.localStorage.removeItem('sb.lang'));
  await page.reload();
  const ru = page.getByRole('form', { name: 'Профиль' });
  await expect(ru.getByLabel('Язык')).toHaveValue('ru');
  await expect(page.locator('html')).toHaveAttribute('lang', 'ru');
  await expect(ru.getByLabel('Звук с каждым уведомлением')).not.toBeChecked();
  await expect(ru.getByLabel('Уведомления браузера о новых сообщениях')).toBeChecked();
  await look(page, 'profile-1440-ru');
  await page.setViewportSize({ width: 390, height: 900 });
  await look(page, 'profile-390-ru');
  await page.emulateMedia({ colorScheme: 'dark' });
  await look(page, 'profile-dark-390-ru');

  // Back to the browser's language and the default switches, for the other tests.
  await ru.getByLabel('Язык').selectOption('');
  await ru.getByLabel('Звук с каждым уведомлением').check();
  await ru.getByRole('button', { name: 'Сохранить' }).click();
  await expect(page.getByRole('status')).toBeVisible();
  await page.reload();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
});
