// A dialog's history (F13): its audit trail in words with the operator's name, the slider
// moved with the keyboard to just before a reply (the past state lacks it) and back onto it,
// a moment typed in before the dialog existed, the way back to the live dialog; in both
// languages at 1440 and 390 px, axe on each. One admin sign-in.
import { expect, test } from '@playwright/test';
import { WIDE, admin, forgetLanguage, lookWideAndNarrow as both, server, signIn } from './helpers';

test('the history shows who did what and the dialog before a reply, then the live dialog again', async ({ browser }) => {
  test.setTimeout(120_000);
  const context = await browser.newContext({ viewport: WIDE });
  const page = await context.newPage();
  await signIn(page, admin());
  const row = page.locator('#dialog-list [role=option]').nth(3);
  const dialog = (await row.getAttribute('data-dialog')) as string;
  await row.click();

  // A reply, so that there is a moment before it.
  const reply = `History test reply ${Date.now()}`;
  await page.locator('#compose-text').fill(reply);
  await page.locator('#compose-text').press('Enter');
  await expect(page.getByRole('log').getByText(reply)).toBeVisible();
  const me = (await page.evaluate(async () => {
    const who = await (await fetch('/v1/auth/me')).json();
    const project = await (await fetch('/v1/project')).json();
    return project.operators.find((o: { operator: string }) => o.operator === who.operator).name;
  })) as string;

  await page.getByRole('button', { name: 'History' }).click();
  const history = page.getByRole('region', { name: 'History of the dialog' });
  await expect(history).toBeVisible();
  // The trail in words, the operator named: no raw JSON.
  const trail = history.locator('.events');
  await expect(trail.getByText(`${me} replied: “${reply}”`)).toBeVisible();
  await expect(trail.getByText(/^The client (started the dialog|wrote) through /).first()).toBeVisible();
  await expect(trail).not.toContainText('{');
  await expect(page.locator('#compose-text')).toHaveCount(0);
  await both(page, 'history-en');

  // What happens while the history is open joins the trail (a comment written through the API,
  // as another tab would: this page hears of it from the live stream).
  const note = `Comment while the history is open ${Date.now()}`;
  const csrf = await page.evaluate(() => window.localStorage.getItem('sb.csrf'));
  const added = await page.request.post(`${server().url}/v1/dialogs/${dialog}/actions`, {
    data: { action: 'add_note', text: note },
    headers: { 'x-csrf-token': csrf ?? '' },
  });
  expect(added.status()).toBe(200);
  await expect(trail.getByText(`${me} left a comment: “${note}”`)).toBeVisible();

  // Where the reply is among the marks (one per log message of the dialog).
  const events = (await page.evaluate(
    async (id) => (await (await fetch(`/v1/dialogs/${id}/events?limit=1000`)).json()).events,
    dialog,
  )) as { seq: number; type: string; text?: string }[];
  const seqs = [...new Set(events.map((e) => e.seq))];
  const replyMark = seqs.indexOf(events.find((e) => e.type === 'message.queued' && e.text === reply)!.seq);
  expect(replyMark).toBeGreaterThan(0);

  // The slider by the keyboard: to the newest mark, then back to the one before the reply.
  const slider = page.locator('#history-slider');
  await expect(page.getByRole('slider', { name: 'Moment in the dialog’s history' })).toBeVisible();
  await slider.focus();
  await page.keyboard.press('End');
  for (let i = seqs.length - 1; i > replyMark - 1; i -= 1) await page.keyboard.press('ArrowLeft');
  await expect(slider).toHaveValue(String(replyMark - 1));
  await expect(slider).toHaveAttribute('aria-valuetext', new RegExp(`event ${replyMark} of ${seqs.length}$`));
  const past = page.locator('.past');
  await expect(past.getByRole('status')).toContainText('A past state: read only.');
  await expect(past.locator('.past-timeline .entry').first()).toBeVisible();
  await expect(past.locator('.past-timeline')).not.toContainText(reply);
  await expect(history.locator('.event.current')).toHaveCount(1);
  // The past card is this client's: its number is the one it has now.
  const number = (await page.evaluate(
    async (id) => (await (await fetch(`/v1/dialogs/${id}/card`)).json()).number,
    dialog,
  )) as number;
  await expect(past.getByText(`#${number}`, { exact: true })).toBeVisible();
  await both(page, 'history-past-en', past);

  // One mark on: the reply is there.
  await page.keyboard.press('ArrowRight');
  await expect(past.locator('.past-timeline').getByText(reply)).toBeVisible();

  // A moment typed in before the dialog existed.
  await page.getByLabel('Or pick a date and time').fill('2020-01-01T00:00');
  await expect(past.getByText('The dialog did not exist yet at that moment.')).toBeVisible();

  // The same in Russian.
  await page.getByLabel('Language').selectOption('ru');
  const ru = page.getByRole('region', { name: 'История диалога' });
  await expect(ru.locator('.events').getByText(`${me} ответил(а): «${reply}»`)).toBeVisible();
  await expect(past.getByText('В этот момент диалога ещё не было.')).toBeVisible();
  await slider.focus();
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowLeft');
  await expect(past.getByRole('status')).toContainText('Прошлое состояние: только чтение.');
  await expect(past.locator('.past-timeline .entry').first()).toBeVisible();
  await both(page, 'history-past-ru', past);

  // Back to the live dialog: the conversation with its compose box and the reply.
  await page.getByRole('button', { name: 'Вернуться к текущему диалогу' }).click();
  await expect(ru).toHaveCount(0);
  await expect(page.locator('.past')).toHaveCount(0);
  await expect(page.getByRole('log').getByText(reply)).toBeVisible();
  await expect(page.locator('#compose-text')).toBeVisible();

  // A history left open on one dialog: another dialog opens at its conversation.
  await page.getByRole('button', { name: 'История' }).click();
  await expect(ru).toBeVisible();
  await page.locator(`#dialog-list [role=option]:not(#row-${dialog})`).first().click();
  await expect(page.locator('#compose-text')).toBeVisible();
  await expect(ru).toHaveCount(0);
  await page.locator(`#row-${dialog}`).click();
  await expect(page.getByRole('log').getByText(reply)).toBeVisible();
  await expect(ru).toHaveCount(0);
  await forgetLanguage(page);
  await context.close();
});
