// The list pane's tools against the real demo: a filter with a group and a saved filter (the
// list is the API's answer for the same filter), search opening a message, a bulk close of a
// filter with its confirmation, the export's download, and every tool's screen at 1440 and
// 390 px in both languages. Each test opens its contexts in the admin's one session (`signIn`).
import { type Browser, type BrowserContext, type Page, expect, test } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { admin, look, signIn } from './helpers';

type Node = unknown;
interface Named {
  name: string;
}
interface Project {
  tags: (Named & { tag: string })[];
  saved_filters: (Named & { filter: string; query: Node })[];
}

/** A context of the admin's session, opened at the inbox. */
async function session(browser: Browser, options: { locale?: string; width?: number } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    locale: options.locale ?? 'en-GB',
    viewport: { width: options.width ?? 1440, height: 900 },
    acceptDownloads: true,
  });
  const page = await context.newPage();
  await signIn(page, admin());
  return { context, page };
}

const project = (page: Page) => page.evaluate(async () => (await fetch('/v1/project')).json()) as Promise<Project>;

function tagId(p: Project, name: string): string {
  const found = p.tags.find((t) => t.name === name);
  if (!found) throw new Error(`the demo has no tag ${name}`);
  return found.tag;
}

/** A POST of the page's session (its cookie and CSRF token), answering the JSON. */
const post = <T>(page: Page, path: string, body: unknown) =>
  page.evaluate(
    async ({ path, body }) => {
      const answer = await fetch(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': localStorage.getItem('sb.csrf') ?? '' },
        body: JSON.stringify(body),
      });
      return answer.json();
    },
    { path, body },
  ) as Promise<T>;

/** The dry run of a bulk action: how many dialogs it selects. */
const dryRun = (page: Page, body: Record<string, unknown>) =>
  post<{ selected: number; confirm_needed: boolean }>(page, '/v1/bulk', { ...body, dry_run: true });

/** Every dialog id of the list with this filter, as the API answers it. */
const apiList = async (page: Page, filter: Node, archived = false) => {
  const ids: string[] = [];
  let active = 0;
  let cursor: string | null = null;
  do {
    const pageOf: { items: { dialog: string }[]; next_cursor: string | null; active_filters: number } = await post(
      page,
      '/v1/dialogs/query',
      { filter, archived, limit: 500, ...(cursor ? { cursor } : {}) },
    );
    ids.push(...pageOf.items.map((i) => i.dialog));
    active = pageOf.active_filters;
    cursor = pageOf.next_cursor;
  } while (cursor);
  return { ids, active };
};

/** Scrolls the list to its end; the ids of the rows on screen at its top. */
async function listEnd(page: Page): Promise<void> {
  const list = page.locator('#dialog-list');
  for (let i = 0; i < 40; i += 1) {
    if ((await list.getAttribute('data-complete')) === 'true' && (await list.getAttribute('aria-busy')) !== 'true') break;
    await list.evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await page.waitForTimeout(100);
  }
  await expect(list).toHaveAttribute('data-complete', 'true');
  await list.evaluate((el) => el.scrollTo(0, 0));
}

async function topRows(page: Page, n: number): Promise<string[]> {
  return page.locator('#dialog-list [role=option]').evaluateAll(
    (rows, n) =>
      rows
        .map((r) => ({ id: r.getAttribute('data-dialog') ?? '', at: Number(r.getAttribute('aria-posinset')) }))
        .sort((a, b) => a.at - b.at)
        .slice(0, n)
        .map((r) => r.id),
    n,
  );
}

/** The panel's condition `i` of group `g`: its kind, then the named choices ticked. */
async function setCondition(page: Page, g: number, i: number, kind: string, choices: string[] = []): Promise<void> {
  await page.locator(`#filter-${g}-${i}-kind`).selectOption(kind);
  const row = page.locator('.filter-group').nth(g).locator('.condition').nth(i);
  for (const name of choices) await row.getByLabel(new RegExp(`^${name} \\(\\d+\\)$`)).check();
}

test('a filter with a group, its count, a saved filter and reset: the list is the API answer', async ({ browser }) => {
  const { context, page } = await session(browser);
  const p = await project(page);
  const [first, second] = [tagId(p, 'новый'), tagId(p, 'повторный')];
  const expected = {
    all: [{ any: [{ tags_all: [first] }, { tags_all: [second] }] }, { any: [{ assignee: null }, 'unanswered'] }],
  };
  const unfiltered = Number(await page.locator('#dialog-list').getAttribute('data-count'));

  await page.getByRole('button', { name: 'Filters' }).click();
  const panel = page.getByRole('region', { name: 'Filter the list' });
  await expect(panel).toBeVisible();
  // F2.5: the tags most used first, each with its count, as the picker route answers.
  const picker = (await page.evaluate(async () => (await fetch('/v1/tags/picker')).json())) as { name: string; dialogs: number }[];
  await expect(panel.locator('.condition').first().locator('.choices label')).toHaveText(
    picker.map((tag) => `${tag.name} (${tag.dialogs})`),
  );
  // Group 1: any of two tags. Group 2: free OR unanswered.
  await setCondition(page, 0, 0, 'tags_any', ['новый', 'повторный']);
  await panel.getByRole('button', { name: 'Add a group' }).click();
  await setCondition(page, 1, 0, 'free');
  await panel.locator('.filter-group').nth(1).getByRole('button', { name: 'Add a condition' }).click();
  await setCondition(page, 1, 1, 'unanswered');
  await panel.getByLabel('Conditions combine with').selectOption('any');
  await expect(panel.getByLabel('Groups combine with')).toHaveValue('all');
  await panel.getByRole('button', { name: 'Apply', exact: true }).click();

  const answer = await apiList(page, expected);
  expect(answer.ids.length).toBeGreaterThan(0);
  expect(answer.ids.length).toBeLessThan(unfiltered);
  await expect(page.getByTestId('filter-count')).toHaveText(String(answer.active));
  expect(answer.active).toBe(4);
  await listEnd(page);
  await expect(page.locator('#dialog-list')).toHaveAttribute('data-count', String(answer.ids.length));
  const shown = Math.min(answer.ids.length, 8);
  expect(await topRows(page, shown)).toEqual(answer.ids.slice(0, shown));
  await look(page, 'filters');
  await page.emulateMedia({ colorScheme: 'dark' });
  await look(page, 'filters-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // Saved under a name: the project keeps exactly the filter the list was asked.
  const name = `New or repeat, free or unanswered ${Date.now()}`;
  await panel.getByLabel('Save the current filter as').fill(name);
  await panel.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(panel.getByRole('status')).toHaveText(`Saved “${name}”.`);
  const saved = (await project(page)).saved_filters.find((f) => f.name === name);
  expect(saved?.query).toEqual(expected);
  await expect(panel.getByLabel('Saved filter', { exact: true })).toHaveValue(saved?.filter ?? '');

  // Reset: no filter, the whole list.
  await panel.getByRole('button', { name: 'Reset' }).click();
  await expect(page.getByTestId('filter-count')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Filters', exact: true })).toBeVisible();
  await expect(page.locator('#dialog-list')).not.toHaveAttribute('data-count', String(answer.ids.length));

  // The saved one picked again: the panel shows its groups and the list is the same answer.
  await panel.getByLabel('Saved filter', { exact: true }).selectOption({ label: name });
  await panel.getByRole('button', { name: 'Apply the saved filter' }).click();
  await expect(page.getByTestId('filter-count')).toHaveText('4');
  await expect(panel.locator('.filter-group')).toHaveCount(2);
  await expect(panel.locator('#filter-1-1-kind')).toHaveValue('unanswered');
  await listEnd(page);
  await expect(page.locator('#dialog-list')).toHaveAttribute('data-count', String(answer.ids.length));
  await look(page, 'filters-saved');

  // Deleted: gone from the project and the picker.
  await panel.getByRole('button', { name: 'Delete the saved filter' }).click();
  await expect(panel.getByRole('status')).toHaveText(`Deleted “${name}”.`);
  expect((await project(page)).saved_filters.some((f) => f.name === name)).toBe(false);
  await expect(panel.getByLabel('Saved filter', { exact: true }).locator('option', { hasText: name })).toHaveCount(0);
  await context.close();
});

test('a message hit opens its dialog at that message, highlighted', async ({ browser }) => {
  const { context, page } = await session(browser);
  const q = 'order';
  const hits = (await page.evaluate(
    async (q) => (await fetch(`/v1/search?q=${q}&target=messages&limit=10`)).json(),
    q,
  )) as { hits: { dialog: string; message: { id: string; text: string } | null }[] };
  const hit = hits.hits.find((h) => h.message);
  if (!hit?.message) throw new Error('the demo has no message with "order"');

  await page.keyboard.press('/');
  await expect(page.getByLabel('Search clients and messages')).toBeFocused();
  await page.keyboard.type(q);
  const results = page.getByRole('region', { name: 'Search results' });
  const button = results.locator(`.message-hit[data-item="${hit.message.id}"]`);
  await expect(button).toBeVisible();
  await expect(button.locator('mark').first()).toHaveText(/order/i);
  await expect(results.getByRole('heading', { name: 'Messages' })).toBeVisible();
  await look(page, 'search');

  await button.click();
  await expect(page).toHaveURL(new RegExp(`/dialogs/${hit.dialog}$`));
  const entry = page.locator(`.timeline [data-id="${hit.message.id}"]`);
  await expect(entry).toHaveAttribute('aria-current', 'true');
  await expect(entry).toHaveClass(/\bhit\b/);
  await expect(entry).toBeInViewport();
  await expect(entry.locator('.text')).toHaveText(hit.message.text);
  await look(page, 'search-opened');

  // A client by a word of their name: the hits are the API's, the first opens its dialog.
  const title = (await page.locator('#dialog-list [role=option] .row-title').nth(3).textContent()) ?? '';
  const word = title.trim().split(/\s+/).pop() ?? '';
  const found = (await page.evaluate(
    async (q) => (await fetch(`/v1/search?q=${encodeURIComponent(q)}&target=clients&limit=5`)).json(),
    word,
  )) as { hits: { dialog: string }[] };
  expect(found.hits.length).toBeGreaterThan(0);
  await page.getByLabel('Search clients and messages').fill(word);
  const clientHits = results.locator('.client-hit');
  await expect(results.getByRole('heading', { name: 'Clients' })).toBeVisible();
  await expect(clientHits).toHaveCount(found.hits.length);
  await expect(clientHits.first().locator('mark').first()).toHaveText(word);
  await clientHits.first().click();
  await expect(page).toHaveURL(new RegExp(`/dialogs/${found.hits[0]?.dialog}$`));
  await look(page, 'search-client');
  await context.close();
});

test('a bulk close of a filter asks with the dry run count, then the rows are closed', async ({ browser }) => {
  const { context, page } = await session(browser);
  const p = await project(page);
  const complaint = tagId(p, 'жалоба');
  const filter = { all: [{ tags_all: [complaint] }] };
  await page.getByRole('button', { name: 'Filters' }).click();
  await setCondition(page, 0, 0, 'tags_all', ['жалоба']);
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('filter-count')).toHaveText('1');
  await page.getByRole('button', { name: 'Filters' }).click();

  const before = await apiList(page, filter);
  expect(before.ids.length).toBeGreaterThan(1);
  const dry = await dryRun(page, { action: { action: 'close' }, filter });
  expect(dry.selected).toBe(before.ids.length);

  // Two rows by the keyboard and a click, then everything that matches.
  await page.locator('#dialog-list').focus();
  await page.keyboard.press('x');
  await page.locator('#dialog-list [role=option]').nth(1).locator('[data-testid=pick]').click();
  await expect(page.getByTestId('bulk-count')).toHaveText('2 picked');
  await expect(page.locator('#dialog-list [role=option].picked')).toHaveCount(2);
  await page.getByRole('button', { name: 'Pick all that match' }).click();
  await expect(page.getByTestId('bulk-count')).toHaveText('All that match the list');
  await page.getByLabel('Action', { exact: true }).selectOption('close');
  await page.getByRole('button', { name: 'Run' }).click();

  const confirm = page.getByRole('alertdialog');
  await expect(confirm).toBeVisible();
  await expect(confirm.getByRole('heading')).toHaveText(`Close: ${dry.selected} dialogs?`);
  await look(page, 'bulk-confirm');
  await confirm.getByRole('button', { name: `Close ${dry.selected} dialogs` }).click();
  await expect(page.getByTestId('bulk-message')).toHaveText(
    `Done: ${dry.selected} changed, 0 already so, 0 skipped, 0 failed.`,
    { timeout: 30_000 },
  );
  await expect(page.locator('#dialog-list')).toHaveAttribute('data-count', '0');
  await look(page, 'bulk-done');

  // The same filter with the closed ones: every dialog it held is closed now.
  const after = (
    await post<{ items: { dialog: string; closed: boolean }[] }>(page, '/v1/dialogs/query', {
      filter,
      archived: true,
      limit: 500,
    })
  ).items;
  const closed = new Set(after.filter((row) => row.closed).map((row) => row.dialog));
  expect(before.ids.filter((id) => !closed.has(id))).toEqual([]);
  await context.close();
});

test('marking everything read runs as a job, followed to its end: the changed count', async ({ browser }) => {
  const { context, page } = await session(browser);
  await page.getByLabel('Show closed').check();
  await expect(page.locator('#dialog-list')).toHaveAttribute('data-count', /\d+/);
  const dry = await dryRun(page, { action: { action: 'mark_read' }, filter: { all: [] }, archived: true });
  // More than a request runs: a job (JOB_ABOVE = 100).
  expect(dry.selected).toBeGreaterThan(100);

  await page.locator('#dialog-list [role=option]').first().locator('[data-testid=pick]').click();
  await page.getByRole('button', { name: 'Pick all that match' }).click();
  await page.getByLabel('Action', { exact: true }).selectOption('mark_read');
  await page.getByRole('button', { name: 'Run' }).click();
  // A selection by filter is wide: confirmed with the count, though nothing is destroyed.
  const confirm = page.getByRole('alertdialog');
  await expect(confirm.getByRole('heading')).toHaveText(`Mark read: ${dry.selected} dialogs?`);
  const [started] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/bulk' && r.request().method() === 'POST'),
    confirm.getByRole('button', { name: `Mark read ${dry.selected} dialogs` }).click(),
  ]);
  expect(started.status()).toBe(202);
  const job = (await started.json()) as { job: string; total: number };
  expect(job.total).toBe(dry.selected);
  const message = page.getByTestId('bulk-message');
  await expect(message).toHaveText(/^Done: \d+ changed, \d+ already so, \d+ skipped, 0 failed\.$/, { timeout: 30_000 });
  const finished = (await page.evaluate(async (job) => (await fetch(`/v1/jobs/${job}`)).json(), job.job)) as {
    state: string;
    changed: number;
    unchanged: number;
    skipped: number;
    done: number;
  };
  expect(finished.state).toBe('done');
  expect(finished.done).toBe(dry.selected);
  await expect(message).toHaveText(
    `Done: ${finished.changed} changed, ${finished.unchanged} already so, ${finished.skipped} skipped, 0 failed.`,
  );
  expect(finished.changed).toBeGreaterThan(0);
  await expect(page.getByTestId('unread-total')).toHaveText('0 unread');
  await look(page, 'bulk-job-done');
  await context.close();
});

test('a dialog opened from an activity range shows its timeline at the range start', async ({ browser }) => {
  const { context, page } = await session(browser);
  await page.getByRole('button', { name: 'Filters' }).click();
  await setCondition(page, 0, 0, 'active_between');
  await page.getByLabel('First day').fill('2026-01-04');
  await page.getByLabel('Last day').fill('2026-01-04');
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('filter-count')).toHaveText('1');
  await page.getByRole('button', { name: 'Filters' }).click();
  const row = page.locator('#dialog-list [role=option]').first();
  await expect(row).toBeVisible();
  const from = await page.evaluate(() => new Date(2026, 0, 4).getTime());
  await row.click();
  // The first entry written on that day or later is marked and in view.
  const entry = page.locator('.timeline .entry.hit');
  await expect(entry).toBeInViewport();
  const at = Date.parse((await entry.locator('time').first().getAttribute('datetime')) ?? '');
  expect(at).toBeGreaterThanOrEqual(from);
  const older = await page
    .locator('.timeline li[data-id]')
    .evaluateAll((items) => {
      const index = items.findIndex((li) => li.classList.contains('hit'));
      return items.slice(0, index).map((li) => Date.parse(li.querySelector('time')?.getAttribute('datetime') ?? ''));
    });
  expect(older.every((t) => t < from)).toBe(true);
  await look(page, 'filters-activity');
  await context.close();
});

/** Records of a CSV text (RFC 4180 quoting), without the byte order mark. */
function csvRecords(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  const body = text.replace(/^\uFEFF/, '');
  for (let i = 0; i < body.length; i += 1) {
    const ch = body[i];
    if (quoted) {
      if (ch === '"' && body[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      record.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && body[i + 1] === '\n') i += 1;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += ch;
  }
  if (field !== '' || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records;
}

test("the export downloads the filtered list's clients as CSV", async ({ browser }) => {
  const { context, page } = await session(browser);
  const p = await project(page);
  const filter = { all: [{ tags_all: [tagId(p, 'vip')] }] };
  await page.getByRole('button', { name: 'Filters' }).click();
  await setCondition(page, 0, 0, 'tags_all', ['vip']);
  await page.getByRole('button', { name: 'Apply', exact: true }).click();
  await expect(page.getByTestId('filter-count')).toHaveText('1');
  await page.getByRole('button', { name: 'Filters' }).click();
  const expected = await apiList(page, filter);
  expect(expected.ids.length).toBeGreaterThan(0);

  await page.getByText('Export', { exact: true }).click();
  const link = page.getByRole('link', { name: 'Clients as CSV' });
  await expect(link).toBeVisible();
  await look(page, 'export');
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  expect(download.suggestedFilename()).toMatch(/\.csv$/);
  const file = await download.path();
  const records = csvRecords(readFileSync(file, 'utf8')).filter((r) => r.some((f) => f !== ''));
  const header = records[0] ?? [];
  expect(header.slice(0, 3)).toEqual(['client_id', 'dialog_id', 'name']);
  const rows = records.slice(1);
  expect(rows).toHaveLength(expected.ids.length);
  const column = header.indexOf('dialog_id');
  expect(new Set(rows.map((r) => r[column]))).toEqual(new Set(expected.ids));
  await context.close();
});

for (const locale of ['en-US', 'ru-RU']) {
  test(`the tools at 1440 and 390 px in ${locale}`, async ({ browser }) => {
    const { context, page } = await session(browser, { locale });
    const lang = locale.slice(0, 2);
    const both = async (screen: string) => {
      for (const width of [1440, 390]) {
        await page.setViewportSize({ width, height: 900 });
        const [scroll, client] = await page.evaluate(() => [
          document.documentElement.scrollWidth,
          document.documentElement.clientWidth,
        ]);
        expect(scroll, 'the page scrolls sideways').toBeLessThanOrEqual(client);
        await look(page, `${screen}-${width}-${lang}`);
      }
      await page.setViewportSize({ width: 1440, height: 900 });
    };
    // The filter panel with a group of two conditions.
    await page.getByRole('button', { name: /^(Filters|Фильтры)$/ }).click();
    await setCondition(page, 0, 0, 'tags_none');
    await page.locator('.filter-group').first().getByRole('button', { name: /^(Add a condition|Добавить условие)$/ }).click();
    await setCondition(page, 0, 1, 'active_between');
    // Closed dialogs asked for while the list leaves them out: the panel says how to see them.
    await page.locator('.filter-group').first().getByRole('button', { name: /^(Add a condition|Добавить условие)$/ }).click();
    await setCondition(page, 0, 2, 'status');
    await page.locator('#filter-0-2-text').selectOption('closed');
    await expect(page.getByTestId('closed-hint')).toBeVisible();
    await both('tools-filters');
    await page.getByRole('button', { name: /^(Filters|Фильтры)$/ }).click();

    await page.getByRole('searchbox').fill('order');
    await expect(page.locator('.message-hit').first()).toBeVisible();
    await both('tools-search');
    await page.getByRole('searchbox').press('Escape');

    await page.locator('#dialog-list [role=option]').first().locator('[data-testid=pick]').click();
    await page.locator('#dialog-list [role=option]').nth(2).locator('[data-testid=pick]').click({ modifiers: ['Shift'] });
    await expect(page.locator('#dialog-list [role=option].picked')).toHaveCount(3);
    await both('tools-bulk');
    await page.locator('#bulk-action').selectOption('delete');
    await page.locator('#bulk-run').click();
    await expect(page.getByRole('alertdialog')).toBeVisible();
    await both('tools-confirm');
    await page.keyboard.press('Escape');
    await expect(page.getByRole('alertdialog')).toHaveCount(0);
    await context.close();
  });
}
