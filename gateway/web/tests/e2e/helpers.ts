// What the browser tests share: the demo server's address and accounts, each account's one
// session (signed in by the global set-up), signing in through the page, a second operator's
// session through the API, and a screenshot with an axe check of every screen.
import AxeBuilder from '@axe-core/playwright';
import { type APIRequestContext, type BrowserContext, type Locator, type Page, expect, request } from '@playwright/test';
import { mkdirSync } from 'node:fs';

export const PASSWORD = 'switchboard-demo';
export const SCREENSHOTS = 'screenshots';

export interface Account {
  email: string;
  role: string;
}

export function server(): { url: string; accounts: Account[] } {
  const url = process.env.SB_URL;
  const accounts = JSON.parse(process.env.SB_ACCOUNTS ?? '[]') as Account[];
  if (!url) throw new Error('SB_URL is not set: run through playwright.config.ts');
  return { url, accounts };
}

export function admin(): Account {
  const found = server().accounts.find((a) => a.role === 'admin');
  if (!found) throw new Error('the demo has no admin');
  return found;
}

export function operators(): Account[] {
  return server().accounts.filter((a) => a.role !== 'admin');
}

/** An account's session, signed in once by the global set-up. */
export interface Session {
  /** For `Authorization: Bearer`. */
  token: string;
  operator: string;
  /** The `sb_session` cookie, as a browser context takes it. */
  cookies: Parameters<BrowserContext['addCookies']>[0];
}

function session(account: Account): Session {
  const found = (JSON.parse(process.env.SB_SESSIONS ?? '{}') as Record<string, Session>)[account.email];
  if (!found) throw new Error(`no session of ${account.email}: run through playwright.config.ts`);
  return found;
}

/**
 * The page opens the inbox in the account's session (signed in once for the whole suite).
 * Where signing in is what a test tries, or its session ends, it uses `signInThroughPage`.
 */
export async function signIn(page: Page, account: Account): Promise<void> {
  await page.context().addCookies(session(account).cookies);
  await page.goto(server().url + '/');
  await expect(page.locator('#dialog-list [role=option]').first()).toBeVisible();
}

/** Signs in through the sign-in page: a session of the page's own. */
export async function signInThroughPage(page: Page, account: Account): Promise<void> {
  await page.goto(server().url + '/');
  await page.getByLabel(/^(Email|Эл. почта)$/).fill(account.email);
  await page.getByLabel(/^(Password|Пароль)$/).fill(PASSWORD);
  await page.getByRole('button', { name: /^(Sign in|Войти)$/ }).click();
  await expect(page.locator('#dialog-list [role=option]').first()).toBeVisible();
}

/** A screenshot of the screen (gitignored `screenshots/`) and no serious or critical axe violation. */
export async function look(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}/${name}.png` });
  const result = await new AxeBuilder({ page }).analyze();
  const bad = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`);
  expect(bad, `axe on ${name}`).toEqual([]);
}

/** Another person's session through the API (a bearer token, as an integration would use). */
export async function apiSession(account: Account): Promise<{ api: APIRequestContext; operator: string }> {
  const { token, operator } = session(account);
  const api = await request.newContext({
    baseURL: server().url,
    extraHTTPHeaders: { authorization: `Bearer ${token}` },
  });
  return { api, operator };
}

/** Back to the browser's language in the signed-in person's profile (a header switch keeps one). */
export async function forgetLanguage(page: Page): Promise<void> {
  const csrf = await page.evaluate(() => window.localStorage.getItem('sb.csrf'));
  const answer = await page.request.patch(server().url + '/v1/profile', {
    data: { language: null },
    headers: { 'x-csrf-token': csrf ?? '' },
  });
  expect(answer.status()).toBe(200);
}

export const WIDE = { width: 1440, height: 900 };
export const NARROW = { width: 390, height: 900 };

/**
 * `look` at a desktop's width and a phone's, nothing wider than the window, `shown` scrolled
 * into view at each; back to the desktop's.
 */
export async function lookWideAndNarrow(page: Page, name: string, shown?: Locator): Promise<void> {
  for (const size of [WIDE, NARROW]) {
    await page.setViewportSize(size);
    await shown?.scrollIntoViewIfNeeded();
    const [scroll, client] = await page.evaluate(() => [
      document.documentElement.scrollWidth,
      document.documentElement.clientWidth,
    ]);
    expect(scroll, `${name} scrolls sideways at ${size.width}`).toBeLessThanOrEqual(client);
    await look(page, `${name}-${size.width}`);
  }
  await page.setViewportSize(WIDE);
}
