// Resending failed messages (F3.6, F6.5): a Telegram channel whose provider is a local fake of
// the Bot API at its HTTP boundary (as in channels.spec.ts) refuses the reply while the client
// has blocked the bot; the failed reply shows its reason and a "Resend" button, which sends the
// same message again through the same channel once the client unblocked it. Then the list's
// bulk menu: "Resend failed" with its options (that channel only, so the demo's dialogs are
// left alone) asks with the dry run's count and resends; "Delete unsubscribed" asks as a
// destructive action. English and Russian, 1440 px, axe on each. The test's client is deleted
// and its channel disconnected at the end, so the other tests find the demo as it was.
import { type APIRequestContext, type Page, expect, test } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NARROW, WIDE, admin, apiSession, forgetLanguage, look, server, signIn } from './helpers';

const TOKEN = `7000003:${'R'.repeat(30)}`;
const CHAT = 777001;

interface FakeTelegram {
  base: string;
  /** The chats `sendMessage` was called for, refused ones too, in order. */
  sends: { chat: string; text: string; refused: boolean }[];
  /** While set, `sendMessage` answers 403 "bot was blocked by the user". */
  blocked: { on: boolean };
  /** The `secret_token` of the last `setWebhook`. */
  secret: { value: string };
  server: Server;
}

async function fakeTelegram(): Promise<FakeTelegram> {
  const sends: FakeTelegram['sends'] = [];
  const blocked = { on: true };
  const secret = { value: '' };
  let next = 100;
  const fake = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => (text += String(chunk)));
    request.on('end', () => {
      const [, , method = ''] = /^\/bot([^/]+)\/(\w+)$/.exec(request.url ?? '') ?? [];
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      const answer = (status: number, value: unknown) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(value));
      };
      if (method === 'getMe') return answer(200, { ok: true, result: { id: 7000003, is_bot: true, first_name: 'Shop', username: 'resend_test_bot' } });
      if (method === 'setWebhook') {
        secret.value = String(body.secret_token ?? '');
        return answer(200, { ok: true, result: true });
      }
      if (method === 'sendMessage') {
        sends.push({ chat: String(body.chat_id), text: String(body.text), refused: blocked.on });
        if (blocked.on) return answer(403, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' });
        next += 1;
        return answer(200, {
          ok: true,
          result: { message_id: next, date: 1_765_000_000, chat: { id: body.chat_id, type: 'private' }, text: body.text },
        });
      }
      return answer(200, { ok: true, result: true });
    });
  });
  await new Promise<void>((done) => fake.listen(0, '127.0.0.1', done));
  const { port } = fake.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, sends, blocked, secret, server: fake };
}

interface TimelineItem {
  id: string;
  direction: string | null;
  delivery: string | null;
  text: string;
}

async function timeline(api: APIRequestContext, dialog: string): Promise<TimelineItem[]> {
  const answer = await api.get(`/v1/dialogs/${dialog}/timeline`);
  expect(answer.status()).toBe(200);
  return ((await answer.json()) as { items: TimelineItem[] }).items;
}

/** The operator's reply through the test's channel, failed: its id. */
async function failedReply(api: APIRequestContext, dialog: string, channel: string, text: string): Promise<string> {
  const sent = await api.post(`/v1/dialogs/${dialog}/actions`, { data: { action: 'send_message', channel, text } });
  expect(sent.status()).toBe(200);
  let id = '';
  await expect
    .poll(async () => {
      const found = (await timeline(api, dialog)).find((i) => i.text === text && i.direction === 'outbound');
      id = found?.id ?? '';
      return found?.delivery;
    })
    .toBe('failed');
  return id;
}

const bubble = (page: Page, text: string) => page.locator('.entry.outbound', { hasText: text });

test('a failed reply shows why and is resent; the bulk menu resends failed ones and asks before deleting unsubscribed', async ({ browser }) => {
  test.setTimeout(120_000);
  const telegram = await fakeTelegram();
  const { api } = await apiSession(admin());
  const context = await browser.newContext({ viewport: WIDE });
  const page = await context.newPage();
  let channel = '';
  let dialog = '';
  try {
    const connected = await api.post('/v1/channels', {
      data: { kind: 'telegram', name: 'Resend bot', bot_token: TOKEN, api_base: telegram.base },
    });
    expect(connected.status()).toBe(200);
    channel = ((await connected.json()) as { channel: string }).channel;
    const update = {
      update_id: 1,
      message: {
        message_id: 1,
        date: 1_765_000_000,
        chat: { id: CHAT, type: 'private', first_name: 'Resend' },
        from: { id: CHAT, is_bot: false, first_name: 'Resend', language_code: 'en' },
        text: 'Where is my order?',
      },
    };
    const hook = await api.post(`/v1/webhooks/telegram/${channel}`, {
      data: update,
      headers: { 'x-telegram-bot-api-secret-token': telegram.secret.value },
    });
    expect(hook.status()).toBe(200);
    await expect
      .poll(async () => {
        const rows = (await (await api.get('/v1/dialogs?limit=20')).json()) as {
          items: { dialog: string; client: { external_id: string | null } }[];
        };
        dialog = rows.items.find((r) => r.client.external_id === String(CHAT))?.dialog ?? '';
        return dialog;
      })
      .not.toBe('');

    // The client blocked the bot: the reply fails with Telegram's words and a Resend button.
    const first = 'Your order ships today';
    await failedReply(api, dialog, channel, first);
    await signIn(page, admin());
    await page.goto(`${server().url}/dialogs/${dialog}`);
    await expect(bubble(page, first).locator('.delivery.failed')).toContainText(
      'Not delivered: 403: Forbidden: bot was blocked by the user',
    );
    const resend = bubble(page, first).getByRole('button', { name: 'Resend' });
    await expect(resend).toBeVisible();
    await look(page, 'resend-failed-en');

    // Unblocked: the same message goes out again and shows sent, the button gone.
    telegram.blocked.on = false;
    await resend.click();
    await expect(bubble(page, first).locator('.delivery')).toHaveText('sent');
    await expect(bubble(page, first).getByRole('button', { name: 'Resend' })).toHaveCount(0);
    expect(telegram.sends.filter((s) => s.text === first).map((s) => s.refused)).toEqual([true, false]);
    await expect(page.locator('.entry.outbound')).toHaveCount(1);

    // Blocked again; in Russian.
    telegram.blocked.on = true;
    const second = 'Ваш заказ отправлен';
    await failedReply(api, dialog, channel, second);
    await page.getByLabel('Language').selectOption('ru');
    await page.goto(`${server().url}/dialogs/${dialog}`);
    await expect(bubble(page, second).getByRole('button', { name: 'Отправить снова' })).toBeVisible();
    await look(page, 'resend-failed-ru');
    // At a phone's width: the failure and its button in the bubble.
    await page.setViewportSize(NARROW);
    await expect(bubble(page, second).getByRole('button', { name: 'Отправить снова' })).toBeVisible();
    await look(page, 'resend-failed-390-ru');
    await page.setViewportSize(WIDE);

    // The bulk menu: "Resend failed" through the test's channel only.
    await page.locator('#dialog-list [role=option]').first().locator('[data-testid=pick]').click();
    await page.getByRole('button', { name: 'Выбрать все подходящие' }).click();
    const bulk = page.locator('section.bulk');
    await bulk.getByLabel('Действие', { exact: true }).selectOption('resend_failed');
    await bulk.getByLabel('Канал', { exact: true }).selectOption(channel);
    await bulk.getByLabel('Секунд между отправками').fill('0');
    await look(page, 'resend-bulk-options-ru');
    telegram.blocked.on = false;
    await page.getByRole('button', { name: 'Выполнить' }).click();
    const confirm = page.getByRole('alertdialog');
    await expect(confirm.getByRole('heading')).toHaveText('Отправить недоставленные снова: диалогов — 1?');
    await look(page, 'resend-bulk-confirm-ru');
    await confirm.getByRole('button', { name: /^Отправить недоставленные снова/ }).click();
    await expect(page.getByTestId('bulk-message')).toHaveText('Готово: изменено 1, уже так 0, пропущено 0, ошибок 0.', {
      timeout: 30_000,
    });
    await expect.poll(async () => (await timeline(api, dialog)).find((i) => i.text === second)?.delivery).toBe('sent');
    // The open conversation follows the resent message to its new status.
    await expect(bubble(page, second).locator('.delivery')).toHaveText('отправлено');
    expect(telegram.sends.filter((s) => s.text === second).map((s) => s.refused)).toEqual([true, false]);

    // English: the options, and "Delete unsubscribed" asks as a destructive action (cancelled).
    await page.getByLabel('Язык').selectOption('en');
    await page.locator('#dialog-list [role=option]').first().locator('[data-testid=pick]').click();
    await page.getByRole('button', { name: 'Pick all that match' }).click();
    await bulk.getByLabel('Action', { exact: true }).selectOption('resend_failed');
    await expect(bulk.getByLabel('Failed since')).toBeVisible();
    await look(page, 'resend-bulk-options-en');
    await bulk.getByLabel('Action', { exact: true }).selectOption('delete_unsubscribed');
    await page.getByRole('button', { name: 'Run' }).click();
    const ask = page.getByRole('alertdialog');
    const nothing = page.getByTestId('bulk-message');
    // The demo may hold no unsubscribed client: then nothing is asked.
    await expect(ask.or(nothing.filter({ hasText: 'Nothing matches.' }))).toBeVisible();
    if (await ask.isVisible()) {
      await expect(ask.getByRole('button', { name: /^Delete unsubscribed/ })).toHaveClass(/danger/);
      await look(page, 'resend-bulk-delete-unsubscribed-en');
      await ask.getByRole('button', { name: 'Cancel' }).click();
    }
    await forgetLanguage(page);
  } finally {
    await context.close();
    if (dialog) await api.post(`/v1/dialogs/${dialog}/actions`, { data: { action: 'delete' } });
    if (channel) await api.delete(`/v1/channels/${channel}`);
    await api.dispose();
    telegram.server.closeAllConnections();
    await new Promise((done) => telegram.server.close(done));
  }
});
