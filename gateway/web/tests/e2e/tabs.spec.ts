// Several tabs of one operator share one live stream (issue 18 item 6: a browser allows 6
// connections per site over HTTP/1.1): two pages of one browser hold one `/v1/live` between them,
// both update live, and when the tab holding it closes the other resumes the stream.
import { type Page, expect, test } from '@playwright/test';
import { admin, apiSession, look, operators, server, signIn } from './helpers';

const firstRow = (page: Page) => page.locator('#dialog-list [role=option]').first();

test('two tabs share one live stream; closing its holder hands it to the other', async ({ context }) => {
  const streams: string[] = [];
  context.on('request', (request) => {
    if (new URL(request.url()).pathname === '/v1/live') streams.push(request.url());
  });
  const first = await context.newPage();
  await signIn(first, admin());
  const second = await context.newPage();
  await second.goto(server().url + '/');
  await expect(firstRow(second)).toBeVisible();

  const other = operators()[0];
  if (!other) throw new Error('the demo has no operator');
  const { api } = await apiSession(other);
  try {
    const mine = await (await api.get('/v1/dialogs?tab=mine&limit=1')).json();
    const dialog = (mine.items as { dialog: string }[])[0]?.dialog;
    if (!dialog) throw new Error('the operator has no dialog to write in');
    const card = await (await api.get(`/v1/dialogs/${dialog}/card`)).json();
    const channel = card.identities[0]?.channel as string;
    const send = async (text: string) => {
      const sent = await api.post(`/v1/dialogs/${dialog}/actions`, { data: { action: 'send_message', channel, text } });
      expect(sent.status()).toBe(200);
    };

    const before = `Both tabs see this ${Date.now()}`;
    await send(before);
    for (const page of [first, second]) await expect(page.locator(`#row-${dialog}`)).toContainText(before);
    expect(streams).toHaveLength(1);

    // The first tab held the stream: the second takes it over after the last event it applied.
    await first.close();
    await expect.poll(() => streams.length).toBe(2);
    expect(streams[1]).toMatch(/[?&]last_event_id=\d+/);
    const after = `The other tab took over ${Date.now()}`;
    await send(after);
    await expect(second.locator(`#row-${dialog}`)).toContainText(after);
    await look(second, 'tabs-shared-stream');
  } finally {
    await api.dispose();
  }
});
