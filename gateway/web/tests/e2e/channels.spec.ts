// The channels screen: an admin connects a Telegram channel — the provider is a local fake of
// the Bot API at its HTTP boundary (getMe, setWebhook), as the Rust tests' fakes are — after a
// refused token is shown beside its field with everything else kept; the channel is listed as
// connected with its bot's name, the bot's webhook points at this server with a secret, the
// token is never shown back; then it is disconnected after a confirmation. Each kind's form,
// both languages, 1440 and 390 px, axe on each. One admin sign-in.
import { expect, test } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WIDE, admin, forgetLanguage, look, lookWideAndNarrow as both, signIn } from './helpers';

const GOOD_TOKEN = `7000001:${'A'.repeat(30)}`;
const BAD_TOKEN = '7000002:revoked';

interface Call {
  method: string;
  token: string;
  body: Record<string, unknown>;
}

/** The Bot API's two calls a connection makes: a token it does not know is refused as Telegram does. */
async function fakeTelegram(): Promise<{ base: string; calls: Call[]; server: Server }> {
  const calls: Call[] = [];
  const fake = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => (text += String(chunk)));
    request.on('end', () => {
      const [, token = '', method = ''] = /^\/bot([^/]+)\/(\w+)$/.exec(request.url ?? '') ?? [];
      calls.push({ method, token, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
      const known = token === GOOD_TOKEN;
      response.writeHead(known ? 200 : 401, { 'content-type': 'application/json' });
      const result = method === 'getMe' ? { id: 7000001, is_bot: true, first_name: 'Shop', username: 'shop_test_bot' } : true;
      response.end(
        JSON.stringify(known ? { ok: true, result } : { ok: false, error_code: 401, description: 'Unauthorized' }),
      );
    });
  });
  await new Promise<void>((done) => fake.listen(0, '127.0.0.1', done));
  const { port } = fake.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, calls, server: fake };
}

test('an admin connects a Telegram channel and disconnects it; every kind’s form in both languages', async ({ browser }) => {
  test.setTimeout(120_000);
  const telegram = await fakeTelegram();
  const context = await browser.newContext({ viewport: WIDE });
  const page = await context.newPage();
  const confirmations: string[] = [];
  page.on('dialog', (d) => {
    confirmations.push(d.message());
    void d.accept();
  });
  try {
    await signIn(page, admin());
    await page.getByRole('button', { name: 'Settings' }).click();
    await page.getByRole('navigation', { name: 'Settings' }).getByRole('button', { name: 'Channels', exact: true }).click();
    await expect(page.getByRole('heading', { level: 2, name: 'Channels' })).toBeVisible();
    // The demo's channels, each with its kind and state.
    await expect(page.locator('.channels-table tbody tr').first()).toBeVisible();
    await both(page, 'admin-channels-en');

    // A token the provider refuses: the message beside the token, the rest kept.
    const form = page.getByRole('form', { name: 'Connect a channel' });
    const name = `Shop bot ${Date.now() % 100000}`;
    await form.getByLabel('Name in the inbox').fill(name);
    await expect(form.getByLabel('Bot token')).toHaveAttribute('type', 'password');
    await form.getByLabel('Bot token').fill(BAD_TOKEN);
    await form.getByLabel('API address (optional)').fill(telegram.base);
    await form.getByRole('button', { name: 'Connect' }).click();
    await expect(form.locator('#new-channel-telegram-bot_token-error')).toContainText('refused');
    await expect(form.getByLabel('Bot token')).toHaveAttribute('aria-invalid', 'true');
    await expect(form.getByLabel('Name in the inbox')).toHaveValue(name);
    await expect(form.getByLabel('API address (optional)')).toHaveValue(telegram.base);
    await look(page, 'admin-channels-error');
    expect(telegram.calls.map((c) => c.method)).toEqual(['getMe']);

    // The right token: connected, the bot named, the webhook set here with a secret.
    await form.getByLabel('Bot token').fill(GOOD_TOKEN);
    await form.getByRole('button', { name: 'Connect' }).click();
    const row = page.getByRole('row', { name: new RegExp(name) });
    await expect(row).toContainText('Telegram');
    await expect(row).toContainText('shop_test_bot');
    await expect(row).toContainText('Connected');
    await expect(page.getByRole('status')).toHaveText(`Connected “${name}”.`);
    await expect(form.getByLabel('Bot token')).toHaveValue('');
    const hook = telegram.calls.find((c) => c.method === 'setWebhook' && c.token === GOOD_TOKEN);
    expect(hook?.body.url).toMatch(/\/v1\/webhooks\/telegram\/[0-9a-f-]{36}$/);
    expect(String(hook?.body.secret_token ?? '').length).toBeGreaterThan(16);
    // The token is nowhere on the page, nor in what the API answers.
    expect(await page.content()).not.toContain(GOOD_TOKEN);
    const listed = await page.evaluate(async () => JSON.stringify(await (await fetch('/v1/channels')).json()));
    expect(listed).not.toContain(GOOD_TOKEN);
    // The inbox knows it at once (its channel filter, its composer).
    const project = (await page.evaluate(async () => (await fetch('/v1/project')).json())) as {
      channels: { name: string; connected: boolean }[];
    };
    expect(project.channels.find((c) => c.name === name)?.connected).toBe(true);
    await both(page, 'admin-channels-connected-en', form);

    // Each kind's form, its secrets in password inputs.
    const kind = page.getByLabel('Messenger');
    await kind.selectOption('whatsapp');
    await expect(form.getByLabel('Phone number ID')).toBeVisible();
    await expect(form.getByLabel('App secret')).toHaveAttribute('type', 'password');
    await kind.selectOption('vk');
    await expect(form.getByLabel('Community ID')).toBeVisible();
    await expect(form.getByLabel('Callback API secret key')).toHaveAttribute('type', 'password');
    // The API's refusal of a community id stands beside it.
    await form.getByLabel('Name in the inbox').fill('Club');
    await form.getByLabel('Community ID').fill('-5');
    await form.getByRole('button', { name: 'Connect' }).click();
    await expect(form.locator('#new-channel-vk-group_id-error')).toHaveText('a community id is positive');
    await expect(form.getByLabel('Community ID')).toHaveAttribute('aria-invalid', 'true');
    await kind.selectOption('email');
    await expect(form.getByLabel('IMAP server')).toBeVisible();
    await expect(form.getByLabel('SMTP password')).toHaveAttribute('type', 'password');
    await expect(form.getByLabel('SMTP port')).toHaveValue('465');
    await both(page, 'admin-channels-email-en', form.getByRole('button', { name: 'Connect' }));
    await kind.selectOption('telegram');

    // Disconnected after a confirmation: gone from the list and from the project.
    await page.getByRole('button', { name: `Disconnect ${name}` }).click();
    expect(confirmations.at(-1)).toContain(name);
    await expect(page.getByRole('row', { name: new RegExp(name) })).toHaveCount(0);
    await expect(page.getByRole('status')).toHaveText(`Disconnected “${name}”.`);
    const after = (await page.evaluate(async () => (await fetch('/v1/channels')).json())) as { name: string }[];
    expect(after.map((c) => c.name)).not.toContain(name);

    // Russian.
    await page.getByLabel('Language').selectOption('ru');
    await expect(page.getByRole('heading', { level: 2, name: 'Каналы' })).toBeVisible();
    const formRu = page.getByRole('form', { name: 'Подключить канал' });
    await expect(formRu.getByLabel('Токен бота')).toHaveAttribute('type', 'password');
    await both(page, 'admin-channels-ru');
    await page.getByLabel('Мессенджер').selectOption('email');
    await expect(formRu.getByLabel('Сервер IMAP')).toBeVisible();
    await both(page, 'admin-channels-email-ru', formRu.getByRole('button', { name: 'Подключить' }));
    await forgetLanguage(page);
  } finally {
    await context.close();
    // `serve` keeps its connection to the provider alive: closed here, or `close` waits for it.
    telegram.server.closeAllConnections();
    await new Promise((done) => telegram.server.close(done));
  }
});
