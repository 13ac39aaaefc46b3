// The three panes: the list with its tabs and counts, the keyboard, a reply, a draft that
// survives a reload, another operator's action arriving live, and both languages.
import { type Page, expect, test } from '@playwright/test';
import { admin, apiSession, forgetLanguage, look, operators, server, signIn, signInThroughPage } from './helpers';

const rows = (page: Page) => page.locator('#dialog-list [role=option]');

test('the list shows tabs, counts and the header total as the API counts them, windowed', async ({ page }) => {
  await signIn(page, admin());
  const counters = (await page.evaluate(async () => (await fetch('/v1/counters')).json())) as {
    unread: number;
    unanswered: number;
  };
  await expect(page.getByRole('tab', { name: /^All/ })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('tab-count-unanswered')).toHaveText(String(counters.unanswered));
  await expect(page.getByTestId('unread-total')).toHaveText(`${counters.unread} unread`);
  expect(await page.title()).toBe(counters.unread > 0 ? `(${counters.unread}) Switchboard` : 'Switchboard');
  await look(page, 'inbox');

  // Every dialog, scrolled to the end: pages load over the cursor, few rows are in the DOM.
  await page.getByLabel('Show closed').check();
  const total = await page.evaluate(async () => {
    let n = 0;
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
      const pageOf = await (await fetch(`/v1/dialogs?archived=true&limit=500${query}`)).json();
      n += pageOf.items.length;
      cursor = pageOf.next_cursor;
    } while (cursor);
    return n;
  });
  expect(total).toBeGreaterThan(200);
  const list = page.locator('#dialog-list');
  for (let i = 0; i < 60; i += 1) {
    await list.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    expect(await rows(page).count()).toBeLessThan(60);
    if ((await list.getAttribute('data-complete')) === 'true') break;
    await page.waitForTimeout(100);
  }
  await expect(list).toHaveAttribute('data-complete', 'true');
  await expect(list).toHaveAttribute('data-count', String(total));
  expect(await rows(page).count()).toBeLessThan(60);

  await page.getByRole('tab', { name: /^Unanswered/ }).click();
  await expect(page.getByRole('tab', { name: /^Unanswered/ })).toHaveAttribute('aria-selected', 'true');
  // Another tab starts at its top.
  await expect(rows(page).first()).toHaveAttribute('aria-posinset', '1');
  expect(await list.evaluate((el) => el.scrollTop)).toBe(0);
  await look(page, 'inbox-unanswered');

  // The dark theme follows the system's, with the same contrast checks.
  await page.emulateMedia({ colorScheme: 'dark' });
  await rows(page).first().click();
  await expect(page.getByRole('log')).toBeVisible();
  await look(page, 'inbox-dark');
});

test('the keyboard moves through the list, opens a dialog and lists its shortcuts', async ({ page }) => {
  await signIn(page, admin());
  const third = await rows(page).nth(2).getAttribute('data-dialog');
  await page.locator('#dialog-list').focus();
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await page.keyboard.press('Enter');
  await expect(page).toHaveURL(new RegExp(`/dialogs/${third}$`));
  await expect(page.locator(`#row-${third}`)).toHaveAttribute('aria-selected', 'true');
  await page.keyboard.press('?');
  await expect(page.getByRole('dialog', { name: 'Keyboard shortcuts' })).toBeVisible();
  await look(page, 'shortcuts');
  await page.keyboard.press('Escape');
  await expect(page.getByRole('dialog')).toHaveCount(0);
});

test('a reply sent with Enter appears in the timeline', async ({ page }) => {
  await signIn(page, admin());
  await rows(page).first().click();
  await expect(page.getByRole('button', { name: 'Send' })).toBeVisible();
  const text = `Hello from the browser test ${Date.now()}`;
  await page.locator('#compose-text').fill(text);
  await expect(page.locator('#compose-counter')).toContainText(`/ 2000`);
  await page.locator('#compose-text').press('Enter');
  await expect(page.getByRole('log').getByText(text)).toBeVisible();
  await expect(page.locator('#compose-text')).toHaveValue('');
  await look(page, 'reply');

  // A page whose storage lost the CSRF token gets it back from the session and still writes.
  await page.evaluate(() => window.localStorage.removeItem('sb.csrf'));
  await page.reload();
  await rows(page).first().click();
  const again = `Written after the token was lost ${Date.now()}`;
  await page.locator('#compose-text').fill(again);
  await page.locator('#compose-text').press('Enter');
  await expect(page.getByRole('log').getByText(again)).toBeVisible();
});

test('a template and an emoji go into the reply at the caret', async ({ page }) => {
  // An operator, who saves the template through the page's session (F3.4: any operator may).
  const person = operators()[2];
  if (!person) throw new Error('the demo has too few operators');
  await signIn(page, person);
  const name = `Shipping ${Date.now()}`;
  const csrf = await page.evaluate(() => window.localStorage.getItem('sb.csrf'));
  const saved = await page.request.post(server().url + '/v1/project/actions', {
    data: { action: 'save_template', template: null, name, text: 'Your order is on its way.' },
    headers: { 'x-csrf-token': csrf ?? '' },
  });
  expect(saved.status()).toBe(200);
  await page.reload();
  await rows(page).first().click();
  const box = page.locator('#compose-text');
  await box.fill('Hi!');
  await page.getByRole('combobox', { name: 'Template…' }).selectOption({ label: name });
  await expect(box).toHaveValue('Hi! Your order is on its way.');
  await page.getByRole('button', { name: 'Emoji' }).click();
  await look(page, 'compose-emoji');
  await page.getByRole('group', { name: 'Emoji' }).getByRole('button', { name: '👍' }).click();
  await expect(box).toHaveValue('Hi! Your order is on its way.👍');
  await expect(page.getByRole('group', { name: 'Emoji' })).toHaveCount(0);
  await look(page, 'compose-template');
  await box.fill('');
});

test('a draft is saved on the server as one types and is there after a reload', async ({ page }) => {
  await signIn(page, admin());
  const row = rows(page).nth(1);
  const dialog = await row.getAttribute('data-dialog');
  await row.click();
  const draft = `Unsent draft ${Date.now()}\nsecond line`;
  await page.locator('#compose-text').fill(draft);
  await expect(page.getByText('Draft saved')).toBeVisible();
  await page.reload();
  await expect(page.locator('#compose-text')).toHaveValue(draft);
  await expect(page.locator(`#row-${dialog}`)).toContainText('Draft:');
  await look(page, 'draft-after-reload');
  // Emptying the box clears the draft on the server.
  await page.locator('#compose-text').fill('');
  await expect(page.getByText('Draft saved')).toBeVisible();
  await page.reload();
  // The list is the server's answer: the row is there and says no draft any more.
  await expect(page.locator(`#row-${dialog}`)).toBeVisible();
  await expect(page.locator(`#row-${dialog}`)).not.toContainText('Draft:');
  await expect(page.locator('#compose-text')).toHaveValue('');
});

test("another operator's message arrives live: the row moves up without a reload", async ({ page }) => {
  await signIn(page, admin());
  const other = operators()[0];
  if (!other) throw new Error('the demo has no operator');
  const { api, operator } = await apiSession(other);
  try {
    // A dialog of theirs, not pinned and not first among the unpinned in the admin's list;
    // after the message it is first after the pinned ones.
    const all = await page.evaluate(async () => (await (await fetch('/v1/dialogs?limit=200')).json()).items);
    const pinned = (all as { pinned: boolean }[]).filter((d) => d.pinned).length;
    const topUnpinned = (all as { dialog: string; pinned: boolean }[]).find((d) => !d.pinned)?.dialog;
    const mine = await (await api.get('/v1/dialogs?tab=mine&limit=100')).json();
    const target = (mine.items as { dialog: string; pinned: boolean }[]).find(
      (d) => !d.pinned && d.dialog !== topUnpinned,
    );
    if (!target) throw new Error('the operator has no dialog to write in');
    const card = await (await api.get(`/v1/dialogs/${target.dialog}/card`)).json();
    const channel = card.identities[0]?.channel as string;
    await page.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));
    const text = `Live from a second operator ${Date.now()}`;
    const sent = await api.post(`/v1/dialogs/${target.dialog}/actions`, {
      data: { action: 'send_message', channel, text },
    });
    expect(sent.status()).toBe(200);
    const row = page.locator(`#row-${target.dialog}`);
    await expect(row).toContainText(text);
    await expect(row).toHaveAttribute('aria-posinset', String(pinned + 1));
    expect(await page.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
    expect(operator).toBeTruthy();
    await look(page, 'live-row');

    // An action the admin's open dialog shows at once: the other operator's note.
    await row.click();
    const note = `A note written elsewhere ${Date.now()}`;
    await api.post(`/v1/dialogs/${target.dialog}/actions`, { data: { action: 'add_note', text: note } });
    await expect(page.getByRole('log').getByText(note)).toBeVisible();
  } finally {
    await api.dispose();
  }
});

test('the inbox speaks Russian by the browser language and switches back to English', async ({ browser }) => {
  const context = await browser.newContext({ locale: 'ru-RU' });
  const page = await context.newPage();
  await page.goto(server().url + '/');
  await expect(page.getByRole('heading', { name: 'Вход' })).toBeVisible();
  await look(page, 'signin-ru');
  await signInThroughPage(page, admin());
  await expect(page.getByRole('tab', { name: /^Неотвеченные/ })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Выйти' })).toBeVisible();
  await rows(page).first().click();
  await expect(page.getByRole('complementary', { name: 'Карточка клиента' })).toBeVisible();
  await look(page, 'inbox-ru');
  await page.getByLabel('Язык').selectOption('en');
  await expect(page.getByRole('tab', { name: /^Unanswered/ })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  // The header's switch is kept in the admin's profile: the later tests want the browser's.
  await forgetLanguage(page);
  await context.close();
});
