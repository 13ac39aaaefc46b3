// F3.8 on screen: off by default (no translate action, no compose tools); an admin sets the two
// providers — local fakes of LibreTranslate's `/translate` and the chat completions API at
// their HTTP boundary, as the Rust tests' fakes are — the key shown back only masked; then a
// client's message is translated below the original with the detected language, a reply is
// suggested into the compose box and undone. Both languages at 1440 px, axe on each; the
// providers are turned off again at the end (the demo server is shared).
import { expect, test } from '@playwright/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NARROW, WIDE, admin, forgetLanguage, look, server, signIn } from './helpers';

const KEY = 'e2e-language-key-7731';
const SUGGESTION = 'Thank you for writing, we are on it.';

/** LibreTranslate's `/translate` and the chat completions endpoint; a wrong key is refused. */
async function fakeLanguage(): Promise<{ base: string; paths: string[]; server: Server }> {
  const paths: string[] = [];
  const fake = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => (text += String(chunk)));
    request.on('end', () => {
      const body = (text ? JSON.parse(text) : {}) as Record<string, unknown>;
      paths.push(request.url ?? '');
      response.setHeader('content-type', 'application/json');
      if (request.url === '/translate') {
        if (body.api_key !== KEY) {
          response.writeHead(403).end(JSON.stringify({ error: 'Invalid API key' }));
          return;
        }
        const q = String(body.q);
        const detected = /[\u0400-\u04FF]/.test(q) ? 'ru' : 'en';
        response.end(JSON.stringify({ translatedText: `[${String(body.target)}] ${q}`, detectedLanguage: { confidence: 90, language: detected } }));
      } else if (request.url === '/v1/chat/completions') {
        if (request.headers.authorization !== `Bearer ${KEY}`) {
          response.writeHead(401).end(JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error' } }));
          return;
        }
        response.end(JSON.stringify({ choices: [{ index: 0, message: { role: 'assistant', content: SUGGESTION } }] }));
      } else {
        response.writeHead(404).end('{}');
      }
    });
  });
  await new Promise<void>((done) => fake.listen(0, '127.0.0.1', done));
  const { port } = fake.address() as AddressInfo;
  return { base: `http://127.0.0.1:${port}`, paths, server: fake };
}

test('an admin sets the language providers; a message is translated and a reply suggested, in both languages', async ({ browser }) => {
  test.setTimeout(120_000);
  const provider = await fakeLanguage();
  const context = await browser.newContext({ viewport: WIDE });
  const page = await context.newPage();
  page.on('dialog', (d) => void d.accept());
  try {
    await signIn(page, admin());
    // Off by default: nothing of F3.8 on screen.
    await page.locator('#dialog-list [role=option]').first().click();
    await expect(page.getByRole('log').locator('.entry.message').first()).toBeVisible();
    await expect(page.getByRole('button', { name: 'Translate', exact: true })).toHaveCount(0);
    await expect(page.getByRole('button', { name: 'Suggest reply' })).toHaveCount(0);

    // The admin sets both providers; the key is shown back masked only.
    await page.getByRole('button', { name: 'Settings' }).click();
    const nav = page.getByRole('navigation', { name: 'Settings' });
    await nav.getByRole('button', { name: 'Translation', exact: true }).click();
    await expect(page.getByRole('heading', { level: 2, name: 'Translation' })).toBeVisible();
    await page.getByLabel('Translation provider URL').fill(provider.base);
    await page.locator('#language-settings-translation_api_key').fill(KEY);
    await page.getByLabel('Language model URL').fill(provider.base);
    await page.locator('#language-settings-suggestions_api_key').fill(KEY);
    await page.getByLabel('Model', { exact: true }).fill('small-model');
    await page.getByRole('button', { name: 'Save' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Saved' })).toBeVisible();
    await expect(page.getByText('Stored: …7731. Leave empty to keep it.').first()).toBeVisible();
    await expect(page.locator('body')).not.toContainText(KEY);
    await look(page, 'admin-translation-1440-en');

    // A client's message translated below the original, with the language it was in.
    await page.getByRole('button', { name: 'Inbox' }).click();
    const inbound = page.locator('#dialog-list [role=option]');
    await inbound.first().click();
    const message = page.getByRole('log').locator('.entry.message.inbound').first();
    await expect(message).toBeVisible();
    const original = (await message.locator('p.text').first().textContent())!;
    await message.getByRole('button', { name: 'Translate', exact: true }).click();
    await expect(message.locator('.translation p.text')).toHaveText(`[en] ${original}`);
    await expect(message.locator('.translation .hint')).toContainText(/Translated from (en|ru) into en/);

    // A suggested reply fills the compose box; Undo brings the draft back.
    const box = page.getByRole('textbox', { name: 'Reply' });
    await box.fill('Draft before');
    await page.getByRole('button', { name: 'Suggest reply' }).click();
    await expect(box).toHaveValue(SUGGESTION);
    await look(page, 'translation-1440-en');
    await page.getByRole('button', { name: 'Undo' }).click();
    await expect(box).toHaveValue('Draft before');
    await box.fill('');

    // The same in Russian.
    await page.getByRole('combobox', { name: 'Language' }).selectOption('ru');
    await expect(page.getByRole('button', { name: 'Предложить ответ' })).toBeVisible();
    await message.getByRole('button', { name: 'Перевести', exact: true }).click();
    await expect(message.locator('.translation p.text')).toHaveText(`[ru] ${original}`);
    await look(page, 'translation-1440-ru');
    // At a phone's width too: the conversation with its translation, and the admin's section.
    await page.setViewportSize(NARROW);
    await expect(message.locator('.translation p.text')).toHaveText(`[ru] ${original}`);
    await look(page, 'translation-390-ru');
    await page.getByRole('button', { name: 'Настройки' }).click();
    await page.getByRole('navigation', { name: 'Настройки' }).getByRole('button', { name: 'Перевод', exact: true }).click();
    await expect(page.getByRole('heading', { level: 2, name: 'Перевод' })).toBeVisible();
    await look(page, 'admin-translation-390-ru');
    await forgetLanguage(page);
    expect(provider.paths).toContain('/translate');
    expect(provider.paths).toContain('/v1/chat/completions');
  } finally {
    // Off again for the other tests on the shared demo server.
    const csrf = await page.evaluate(() => window.localStorage.getItem('sb.csrf')).catch(() => null);
    await page.request
      .delete(server().url + '/v1/project/translation/settings', { headers: { 'x-csrf-token': csrf ?? '' } })
      .catch(() => undefined);
    await context.close();
    provider.server.close();
  }
});
