// Every screen at the width an operator's desktop gives (1440) and at a phone's (390), in both
// languages: screenshots to look at, axe on each, nothing wider than the window, and on a narrow
// window one pane at a time. The admin's one session (`signIn`) in both languages.
import { type Page, expect, test } from '@playwright/test';
import { admin, look, server, signIn } from './helpers';

const WIDE = { width: 1440, height: 900 };
const NARROW = { width: 390, height: 900 };

const noSideScroll = async (page: Page) => {
  const [scroll, client] = await page.evaluate(() => [
    document.documentElement.scrollWidth,
    document.documentElement.clientWidth,
  ]);
  expect(scroll, 'the page scrolls sideways').toBeLessThanOrEqual(client);
};

for (const locale of ['en-US', 'ru-RU']) {
  test(`sign-in, the inbox and a conversation at 1440 and 390 px in ${locale}`, async ({ browser }) => {
    const context = await browser.newContext({ locale, viewport: WIDE });
    const page = await context.newPage();
    const shot = async (screen: string) => {
      await noSideScroll(page);
      await look(page, `${screen}-${page.viewportSize()?.width}-${locale.slice(0, 2)}`);
    };
    await page.goto(server().url + '/');
    await expect(page.getByRole('button', { name: /^(Sign in|Войти)$/ })).toBeVisible();
    await shot('signin');
    await page.setViewportSize(NARROW);
    await shot('signin');

    await page.setViewportSize(WIDE);
    await signIn(page, admin());
    const list = page.locator('#dialog-list');
    await shot('inbox');
    await list.locator('[role=option]').first().click();
    await expect(page.locator('#compose-text')).toBeVisible();
    await expect(list).toBeVisible();
    await shot('conversation');

    // Narrow: one pane at a time — the conversation hides the list, its back button returns.
    await page.setViewportSize(NARROW);
    await expect(list).toBeHidden();
    await shot('conversation');
    await page.getByRole('button', { name: /^← (Dialogs|Диалоги)$/ }).click();
    await expect(list).toBeVisible();
    await expect(page.locator('#compose-text')).toBeHidden();
    await shot('inbox');
    await context.close();
  });
}
