// The admin screens: an admin creates a folder and an operator (errors beside their fields,
// nothing typed lost), a tag and an API token shown once; the new operator then signs in and
// sees no settings. Every section is screenshotted at 1440 and 390 px in both languages.
// The admin's one session (`signIn`); the new operator signs in through the page.
import { type Page, expect, test } from '@playwright/test';
import { PASSWORD, admin, forgetLanguage, look, signIn, signInThroughPage } from './helpers';

const WIDE = { width: 1440, height: 900 };
const NARROW = { width: 390, height: 900 };
const SECTIONS = ['Operators', 'API tokens', 'Folders', 'Tags', 'Lists', 'Variables', 'Pipelines', 'Templates', 'SLA thresholds'];
const SECTIONS_RU = ['Операторы', 'API-токены', 'Папки', 'Теги', 'Списки', 'Переменные', 'Воронки', 'Шаблоны', 'Пороги SLA'];

async function everySection(page: Page, names: string[], lang: string) {
  const nav = page.getByRole('navigation', { name: lang === 'en' ? 'Settings' : 'Настройки' });
  for (const [i, name] of names.entries()) {
    await nav.getByRole('button', { name, exact: true }).click();
    await expect(page.getByRole('heading', { level: 2, name, exact: true })).toBeVisible();
    const slug = SECTIONS[i]!.toLowerCase().replace(/ /g, '-');
    for (const size of [WIDE, NARROW]) {
      await page.setViewportSize(size);
      const [scroll, client] = await page.evaluate(() => [
        document.documentElement.scrollWidth,
        document.documentElement.clientWidth,
      ]);
      expect(scroll, `${name} scrolls sideways at ${size.width}`).toBeLessThanOrEqual(client);
      await look(page, `admin-${slug}-${size.width}-${lang}`);
    }
    await page.setViewportSize(WIDE);
  }
}

test('an admin creates a folder and an operator, who then signs in; every setting in both languages', async ({ browser }) => {
  test.setTimeout(150_000);
  const context = await browser.newContext({ viewport: WIDE });
  const page = await context.newPage();
  page.on('dialog', (d) => void d.accept());
  await signIn(page, admin());
  await page.getByRole('button', { name: 'Settings' }).click();
  await expect(page).toHaveURL(/\/admin$/);
  await expect(page.getByRole('heading', { level: 2, name: 'Operators' })).toBeVisible();

  // An operator: a short password is refused beside its field, and what was typed stays.
  const email = `vera-${Date.now()}@example.com`;
  const person = page.getByRole('form', { name: 'A new operator' });
  await person.getByLabel('Name').fill('Vera Test');
  await person.getByLabel('Email').fill(email);
  await person.getByLabel('Password').fill('short');
  await person.getByRole('button', { name: 'Add the operator' }).click();
  const passwordError = person.locator('#new-operator-password-error');
  await expect(passwordError).toBeVisible();
  await expect(person.getByLabel('Password')).toHaveAttribute('aria-invalid', 'true');
  await expect(person.getByLabel('Name')).toHaveValue('Vera Test');
  await expect(person.getByLabel('Email')).toHaveValue(email);
  await look(page, 'admin-operator-error');
  await person.getByLabel('Password').fill(PASSWORD);
  await person.getByRole('button', { name: 'Add the operator' }).click();
  await expect(page.getByRole('row', { name: /Vera Test/ })).toBeVisible();
  await expect(person.getByLabel('Name')).toHaveValue('');

  // A folder: an empty name is refused beside the field; then it is made and the list has it.
  await page.getByRole('button', { name: 'Folders', exact: true }).click();
  const folder = page.getByRole('form', { name: 'A new folder' });
  await folder.getByRole('button', { name: 'Create' }).click();
  await expect(folder.locator('#new-folder-name-error')).toBeVisible();
  const folderName = `Escalations ${Date.now() % 100000}`;
  await folder.getByLabel('Name').fill(folderName);
  await folder.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByRole('listitem').filter({ hasText: folderName })).toBeVisible();
  // Its sound switch, kept by the server (the box follows the project's answer).
  const sound = page.getByRole('listitem').filter({ hasText: folderName }).getByRole('checkbox', { name: /^Sound/ });
  await sound.click();
  await expect(sound).not.toBeChecked();
  const folders = (await page.evaluate(async () => (await fetch('/v1/project')).json())) as {
    folders: { name: string; push: boolean; sound: boolean }[];
  };
  expect(folders.folders.find((f) => f.name === folderName)).toMatchObject({ push: true, sound: false });

  // A tag with its colour.
  await page.getByRole('button', { name: 'Tags', exact: true }).click();
  const tag = page.getByRole('form', { name: 'A new tag' });
  const tagName = `urgent-${Date.now() % 100000}`;
  await tag.getByLabel('Name').fill(tagName);
  await tag.getByLabel('Colour').fill('#b3261e');
  await tag.getByRole('button', { name: 'Create' }).click();
  await expect(page.getByRole('listitem').filter({ hasText: tagName })).toBeVisible();

  // An API token is shown once.
  await page.getByRole('button', { name: 'API tokens', exact: true }).click();
  const token = page.getByRole('form', { name: 'A new token' });
  await token.getByLabel('What it is for').fill('CRM sync');
  await token.getByRole('button', { name: 'Create the token' }).click();
  await expect(page.getByRole('status').locator('code')).toHaveText(/^sb_/);
  await expect(page.getByRole('row', { name: /CRM sync/ })).toBeVisible();

  // SLA thresholds: red not after yellow is refused beside the red field, the minutes kept.
  await page.getByRole('button', { name: 'SLA thresholds', exact: true }).click();
  const sla = page.getByRole('form', { name: 'SLA thresholds' });
  const yellow = sla.getByLabel('Yellow after (minutes)');
  const red = sla.getByLabel('Red after (minutes)');
  const [yellowBefore, redBefore] = [await yellow.inputValue(), await red.inputValue()];
  await yellow.fill('30');
  await red.fill('10');
  await sla.getByRole('button', { name: 'Save' }).click();
  await expect(sla.locator('#sla-red_after_secs-error')).toBeVisible();
  await expect(red).toHaveAttribute('aria-invalid', 'true');
  await expect(yellow).toHaveValue('30');
  await look(page, 'admin-sla-error');
  await yellow.fill(yellowBefore || '15');
  await red.fill(redBefore || '60');
  await sla.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('status')).toHaveText('Saved.');

  // The folder is in the inbox's folders at once.
  await page.getByRole('button', { name: 'Inbox' }).click();
  await expect(page.getByRole('navigation', { name: 'Folders' }).getByText(folderName)).toBeVisible();
  await page.getByRole('button', { name: 'Settings' }).click();

  await everySection(page, SECTIONS, 'en');
  await page.getByLabel('Language').selectOption('ru');
  await expect(page.getByRole('heading', { level: 1, name: 'Настройки' })).toBeVisible();
  await everySection(page, SECTIONS_RU, 'ru');
  await page.emulateMedia({ colorScheme: 'dark' });
  await look(page, 'admin-dark-ru');
  await forgetLanguage(page);
  await context.close();

  // The new operator signs in, and sees no settings.
  const theirs = await browser.newContext({ viewport: WIDE });
  const them = await theirs.newPage();
  await signInThroughPage(them, { email, role: 'operator' });
  await expect(them.getByRole('button', { name: 'Profile' })).toBeVisible();
  await expect(them.getByRole('button', { name: 'Settings' })).toHaveCount(0);
  await theirs.close();
});
