// The reply box's files, quote-reply and message → template (issue 18 item 4): files checked
// against the channel's limits before any upload (a file over them refused beside the box,
// never sent), taken ones uploaded with their chips and sent, shown in the timeline; a message
// quoted by its Reply and sent with `reply_to`; a message saved as a template through the
// prefilled form. An operator's session of its own (`signIn`).
import { type Page, expect, test } from '@playwright/test';
import { forgetLanguage, look, lookWideAndNarrow, operators, signIn } from './helpers';

// A 1×1 PNG: the server sniffs `image/png` from its bytes.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
const MB = 1024 * 1024;

function person() {
  const all = operators();
  const found = all[3] ?? all[2];
  if (!found) throw new Error('the demo has too few operators');
  return found;
}

interface Item {
  id: string;
  kind: string;
  direction?: string | null;
  text: string;
  reply_to?: string | null;
  files: { kind: string; file_name: string; storage_ref: string; size_bytes: number }[];
}

/** A dialog of the signed-in operator's whose only channel is of `kind`, with a client's message. */
async function dialogOn(page: Page, kind: string): Promise<string> {
  const found = await page.evaluate(async (kind) => {
    const project = await (await fetch('/v1/project')).json();
    const channels = new Set(
      (project.channels as { channel: string; kind: string }[]).filter((c) => c.kind === kind).map((c) => c.channel),
    );
    const page = await (await fetch('/v1/dialogs?limit=200')).json();
    for (const row of page.items as { dialog: string; blocked: boolean }[]) {
      if (row.blocked) continue;
      const card = await (await fetch(`/v1/dialogs/${row.dialog}/card`)).json();
      const ids = (card.identities as { channel: string }[]).map((i) => i.channel);
      if (ids.length === 0 || !ids.every((c) => channels.has(c))) continue;
      const timeline = await (await fetch(`/v1/dialogs/${row.dialog}/timeline`)).json();
      if ((timeline.items as { direction?: string; text: string }[]).some((i) => i.direction === 'inbound' && i.text.trim())) {
        return row.dialog;
      }
    }
    return null;
  }, kind);
  if (!found) throw new Error(`the operator has no dialog on ${kind} alone`);
  return found;
}

/** `work` on the page in Russian and dark; the profile back to the browser's language after. */
async function inRussianDark(page: Page, work: () => Promise<void>): Promise<void> {
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.getByLabel('Language').selectOption('ru');
  await work();
  await forgetLanguage(page);
  await page.emulateMedia({ colorScheme: 'light' });
}

async function timelineOf(page: Page, dialog: string): Promise<Item[]> {
  return (await page.evaluate(async (d) => (await (await fetch(`/v1/dialogs/${d}/timeline`)).json()).items, dialog)) as Item[];
}

test('files are checked against the channel before upload: one over its limit refused, the others sent', async ({ page }) => {
  await signIn(page, person());
  const dialog = await dialogOn(page, 'whatsapp_cloud');
  await page.goto(`${new URL(page.url()).origin}/dialogs/${dialog}`);
  await expect(page.locator('#compose-text')).toBeVisible();
  const uploads: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/v1/attachments') uploads.push(new URL(r.url()).searchParams.get('file_name') ?? '');
  });

  // The attach button opens the picker: a small image goes, one over WhatsApp's 5 MB for
  // images is refused with why, before a byte of it is sent. The image is drawn by the page.
  const photo = Buffer.from(
    await page.evaluate(() => {
      const canvas = document.createElement('canvas');
      canvas.width = 160;
      canvas.height = 100;
      const draw = canvas.getContext('2d')!;
      const fill = draw.createLinearGradient(0, 0, 160, 100);
      fill.addColorStop(0, '#1f5fc7');
      fill.addColorStop(1, '#e0a800');
      draw.fillStyle = fill;
      draw.fillRect(0, 0, 160, 100);
      return canvas.toDataURL('image/png').split(',')[1]!;
    }),
    'base64',
  );
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Attach files' }).click();
  await (await chooser).setFiles([
    { name: 'photo.png', mimeType: 'image/png', buffer: photo },
    { name: 'big.png', mimeType: 'image/png', buffer: Buffer.alloc(6 * MB, 1) },
  ]);
  const refused = page.locator('#compose-refused');
  await expect(refused).toContainText('big.png (6 MB) is over the 5 MB that WhatsApp takes for images.');
  const chips = page.getByRole('list', { name: 'Attached files' });
  await expect(chips.locator('[data-file="photo.png"] .chip-state')).toHaveText('uploaded');
  await expect(chips.locator('[data-file="big.png"]')).toHaveCount(0);
  expect(uploads).toEqual(['photo.png']);

  // A paste of an image WhatsApp does not take, and a drop of a document (a file that is not an
  // image goes alone): both refused, nothing uploaded.
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(['RIFF0000WEBP'], 'sticker.webp', { type: 'image/webp' }));
    document
      .getElementById('compose-text')!
      .dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  });
  await expect(refused).toContainText('WhatsApp does not take sticker.webp: images only as image/jpeg, image/png.');
  const drop = await page.evaluateHandle(() => {
    const data = new DataTransfer();
    data.items.add(new File(['%PDF-1.4'], 'invoice.pdf', { type: 'application/pdf' }));
    return data;
  });
  await page.locator('form.compose').dispatchEvent('drop', { dataTransfer: drop });
  await expect(refused).toContainText('invoice.pdf: a file that is not an image goes alone');
  await lookWideAndNarrow(page, 'compose-files', page.locator('form.compose'));
  // A second image dropped is taken.
  const second = await page.evaluateHandle(
    (bytes) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], 'second.png', { type: 'image/png' }));
      return data;
    },
    [...PNG],
  );
  await page.locator('form.compose').dispatchEvent('drop', { dataTransfer: second });
  await expect(chips.locator('[data-file="second.png"] .chip-state')).toHaveText('uploaded');
  expect(uploads).toEqual(['photo.png', 'second.png']);
  await expect(refused).toHaveCount(0);

  // Removed by its button (the keyboard's too), the second chip goes; the first is sent.
  await chips.getByRole('button', { name: 'Remove second.png' }).focus();
  await page.keyboard.press('Enter');
  await expect(chips.locator('[data-file="second.png"]')).toHaveCount(0);
  const text = `The photo you asked for ${Date.now()}`;
  await page.locator('#compose-text').fill(text);
  await page.locator('#compose-text').press('Enter');
  const sent = page.getByRole('log').locator('li.entry').filter({ hasText: text });
  await expect(sent).toBeVisible();
  await expect(page.getByRole('list', { name: 'Attached files' })).toHaveCount(0);
  const image = sent.getByRole('img', { name: 'photo.png' });
  await expect(image).toBeVisible();
  // The image comes from the dialog's file route to the operator's session.
  await expect.poll(() => image.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBe(160);
  const item = (await timelineOf(page, dialog)).find((i) => i.text === text);
  expect(item?.files).toHaveLength(1);
  expect(item?.files[0]?.file_name).toBe('photo.png');
  expect(item?.files[0]?.storage_ref).toMatch(/^sha256:[0-9a-f]{64}$/);
  await look(page, 'compose-files-sent');

  // In Russian and dark: the refusal in the language of the page.
  await inRussianDark(page, async () => {
    const chooserRu = page.waitForEvent('filechooser');
    await page.getByRole('button', { name: 'Прикрепить файлы' }).click();
    await (await chooserRu).setFiles([{ name: 'большое.png', mimeType: 'image/png', buffer: Buffer.alloc(5 * MB + 1, 1) }]);
    await expect(refused).toContainText('большое.png (5 МБ) больше 5 МБ, которые WhatsApp принимает для изображений.');
    await lookWideAndNarrow(page, 'compose-files-ru-dark', page.locator('form.compose'));
  });
  expect(uploads).toEqual(['photo.png', 'second.png']);
});

test("a message's Reply quotes it above the box, and the reply is sent with the quote", async ({ page }) => {
  await signIn(page, person());
  const dialog = await dialogOn(page, 'telegram');
  await page.goto(`${new URL(page.url()).origin}/dialogs/${dialog}`);
  await expect(page.locator('#compose-text')).toBeVisible();
  const quoted = (await timelineOf(page, dialog)).find((i) => i.direction === 'inbound' && i.text.trim())!;
  const entry = page.locator(`li.entry[data-id="${quoted.id}"]`);
  await entry.scrollIntoViewIfNeeded();
  await entry.hover();
  await expect(entry.getByRole('button', { name: 'Reply' })).toHaveCSS('opacity', '1');
  await look(page, 'message-actions');
  // The keyboard reaches the action: focused and pressed.
  await entry.getByRole('button', { name: 'Reply' }).focus();
  await page.keyboard.press('Enter');
  const quote = page.getByRole('group', { name: 'Replying to Client' });
  await expect(quote).toContainText(quoted.text.replace(/\s+/g, ' ').trim().slice(0, 40));
  await expect(page.locator('#compose-text')).toBeFocused();
  await lookWideAndNarrow(page, 'compose-quote', quote);

  // Removed, and quoted again.
  await quote.getByRole('button', { name: 'Cancel the reply' }).click();
  await expect(quote).toHaveCount(0);
  await entry.hover();
  await entry.getByRole('button', { name: 'Reply' }).click();
  await expect(quote).toBeVisible();
  const text = `Answering your question ${Date.now()}`;
  await page.locator('#compose-text').fill(text);
  await page.locator('#compose-text').press('Enter');
  const sent = page.getByRole('log').locator('li.entry').filter({ hasText: text });
  await expect(sent).toBeVisible();
  await expect(sent.locator('blockquote')).toContainText(quoted.text.replace(/\s+/g, ' ').trim().slice(0, 40));
  await expect(quote).toHaveCount(0);
  const item = (await timelineOf(page, dialog)).find((i) => i.text === text);
  expect(item?.reply_to).toBe(quoted.id);
  await look(page, 'quote-sent');

  // In Russian and dark: the message's actions and the quote.
  await inRussianDark(page, async () => {
    await entry.hover();
    await entry.getByRole('button', { name: 'Ответить' }).click();
    const quoteRu = page.getByRole('group', { name: 'Ответ: Клиент' });
    await expect(quoteRu).toBeVisible();
    await lookWideAndNarrow(page, 'compose-quote-ru-dark', quoteRu);
    await quoteRu.getByRole('button', { name: 'Отменить цитату' }).click();
  });
});

test('a message saved as a template: the form prefilled, the template in the reply box after', async ({ page }) => {
  await signIn(page, person());
  const dialog = await dialogOn(page, 'vk');
  await page.goto(`${new URL(page.url()).origin}/dialogs/${dialog}`);
  await expect(page.locator('#compose-text')).toBeVisible();
  const message = (await timelineOf(page, dialog)).find((i) => i.kind === 'message' && i.text.trim())!;
  const entry = page.locator(`li.entry[data-id="${message.id}"]`);
  await entry.scrollIntoViewIfNeeded();
  await entry.hover();
  await entry.getByRole('button', { name: 'Save as template' }).click();
  const form = page.getByRole('dialog', { name: 'Save the message as a template' });
  await expect(form.getByLabel('Text')).toHaveValue(message.text);
  await expect(form.getByLabel('Name')).toBeFocused();
  expect((await form.getByLabel('Name').inputValue()).length).toBeGreaterThan(0);
  await lookWideAndNarrow(page, 'template-from-message', form);

  // An empty name is refused beside its field, the text typed kept.
  await form.getByLabel('Name').fill('');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.locator('.field-error')).toBeVisible();
  await expect(form.getByLabel('Text')).toHaveValue(message.text);

  const name = `From a message ${Date.now()}`;
  await form.getByLabel('Name').fill(name);
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form).toHaveCount(0);
  await expect(page.getByRole('status').filter({ hasText: name })).toBeVisible();
  const templates = (await page.evaluate(async () => (await (await fetch('/v1/project')).json()).templates)) as {
    name: string;
    text: string;
  }[];
  expect(templates.find((x) => x.name === name)?.text).toBe(message.text);
  // In the reply box's picker at once, and it puts the text in.
  await page.getByRole('combobox', { name: 'Template…' }).selectOption({ label: name });
  await expect(page.locator('#compose-text')).toHaveValue(message.text);
  await look(page, 'template-saved');
  await page.locator('#compose-text').fill('');

  // Escape closes the form without saving.
  await entry.hover();
  await entry.getByRole('button', { name: 'Save as template' }).click();
  await expect(form).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(form).toHaveCount(0);

  // In Russian and dark.
  await inRussianDark(page, async () => {
    await entry.hover();
    await entry.getByRole('button', { name: 'Сохранить как шаблон' }).click();
    const formRu = page.getByRole('dialog', { name: 'Сохранить сообщение как шаблон' });
    await expect(formRu.getByLabel('Текст')).toHaveValue(message.text);
    await lookWideAndNarrow(page, 'template-from-message-ru-dark', formRu);
    await formRu.getByRole('button', { name: 'Отмена' }).click();
    await expect(formRu).toHaveCount(0);
  });
});
