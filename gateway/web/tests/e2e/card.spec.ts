// The client card edited in place: a tag added shows on the card and on the dialog's row, a
// variable is set, a comment appears in the timeline, and the dialog's F4 actions (block,
// bot pause) flip both ways. An operator's one sign-in.
import { type Page, expect, test } from '@playwright/test';
import { forgetLanguage, look, operators, signIn } from './helpers';

const rows = (page: Page) => page.locator('#dialog-list [role=option]');

test('the card is edited in place: a tag on the row, a comment in the timeline, block and unblock', async ({ page }) => {
  await page.setViewportSize({ width: 1440, height: 900 });
  await signIn(page, operators()[0]!);
  await rows(page).first().click();
  const card = page.getByRole('complementary', { name: 'Client card' });
  await expect(card.getByRole('heading', { level: 2 })).toBeVisible();
  const dialog = new URL(page.url()).pathname.split('/').pop()!;
  const row = page.locator(`#dialog-list [role=option][data-dialog="${dialog}"]`);

  // A tag: picked, added, shown on the card and on the row; removed again.
  const tags = card.getByRole('region', { name: 'Tags' });
  const picker = tags.getByLabel('Add to Tags');
  const name = (await picker.locator('option').nth(1).textContent())!.trim();
  await picker.selectOption({ label: name });
  await tags.getByRole('button', { name: 'Add' }).click();
  await expect(tags.getByRole('listitem').filter({ hasText: name })).toBeVisible();
  await expect(row.locator('.row-tags')).toContainText(name);
  await look(page, 'card-1440-en');

  // Variables: a choice-typed one from its list, a free one typed; both read back from the card.
  const variables = card.getByRole('region', { name: 'Variables' });
  const choice = variables.locator('select').first();
  const picked = (await choice.locator('option').nth(1).getAttribute('value'))!;
  await choice.selectOption(picked);
  await expect(variables.locator('select').first()).toHaveValue(picked);
  const free = variables.locator('input').first();
  const typed = `A-${Date.now() % 100000}`;
  await free.fill(typed);
  await free.press('Enter');
  const stored = async () =>
    ((await page.evaluate(async (id) => (await fetch(`/v1/dialogs/${id}/card`)).json(), dialog)) as {
      variables: { value: string }[];
    }).variables.map((v) => v.value);
  await expect.poll(stored).toContain(typed);
  expect(await stored()).toContain(picked);
  await expect(variables.locator('input').first()).toHaveValue(typed);

  // A comment for the team lands in the timeline.
  const text = `Called back, wants a quote ${Date.now() % 100000}`;
  const note = card.getByRole('form', { name: 'Comment' });
  await note.getByLabel('A comment for the team').fill(text);
  await note.getByRole('button', { name: 'Add the comment' }).click();
  await expect(page.getByRole('log').getByText(text)).toBeVisible();
  await expect(note.getByLabel('A comment for the team')).toHaveValue('');

  // A task, then done.
  const task = card.getByRole('form', { name: 'A new task' });
  await task.getByLabel('Task').fill('Send the quote');
  await task.getByRole('button', { name: 'Add the task' }).click();
  const done = card.getByRole('checkbox', { name: 'Send the quote' });
  await expect(done).toBeVisible();
  await done.check();
  await expect(done).toBeDisabled();

  // Block and unblock: the compose box says why it is closed, then opens again.
  await card.getByRole('button', { name: 'Block' }).click();
  await expect(card.getByRole('button', { name: 'Unblock' })).toBeVisible();
  await expect(page.getByText('The client is blocked: nothing can be sent.')).toBeVisible();
  await expect(page.locator('#compose-text')).toBeDisabled();
  await expect(row.locator('.status', { hasText: 'Blocked' })).toBeVisible();
  await look(page, 'card-blocked-1440-en');
  await card.getByRole('button', { name: 'Unblock' }).click();
  await expect(card.getByRole('button', { name: 'Block' })).toBeVisible();
  await expect(page.locator('#compose-text')).toBeEnabled();

  await tags.getByRole('button', { name: `Remove ${name}` }).click();
  await expect(tags.getByRole('listitem').filter({ hasText: name })).toHaveCount(0);

  await page.emulateMedia({ colorScheme: 'dark' });
  await look(page, 'card-dark-1440-en');
  await page.emulateMedia({ colorScheme: 'light' });

  // A narrow window shows the card in place of the conversation, and goes back; both languages.
  for (const lang of ['en', 'ru'] as const) {
    if (lang === 'ru') await page.getByLabel('Language').selectOption('ru');
    const cardName = lang === 'en' ? 'Client card' : 'Карточка клиента';
    await page.setViewportSize({ width: 1440, height: 900 });
    await look(page, `card-1440-${lang}-final`);
    await page.setViewportSize({ width: 390, height: 900 });
    const pane = page.getByRole('complementary', { name: cardName });
    await expect(pane).toBeHidden();
    await page.getByRole('button', { name: lang === 'en' ? 'Client card' : 'Карточка', exact: true }).click();
    await expect(pane).toBeVisible();
    await expect(page.locator('#compose-text')).toBeHidden();
    const [scroll, client] = await page.evaluate(() => [
      document.documentElement.scrollWidth,
      document.documentElement.clientWidth,
    ]);
    expect(scroll).toBeLessThanOrEqual(client);
    await look(page, `card-390-${lang}`);
    await pane.getByRole('button', { name: lang === 'en' ? '← Conversation' : '← Переписка' }).click();
    await expect(page.locator('#compose-text')).toBeVisible();
  }
  await forgetLanguage(page);
});
