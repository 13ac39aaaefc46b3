// Sign-in (with the API's errors shown and nothing typed lost), sign-out, and the first run of
// an empty installation (the first project and its admin, given the root token).
import { expect, test } from '@playwright/test';
import { startServe } from '../../scripts/serve.mjs';
import { PASSWORD, admin, look, server, signInThroughPage } from './helpers';

test('a wrong password is said on the form, keeps the email, and the right one opens the inbox', async ({ page }) => {
  await page.goto(server().url + '/');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await look(page, 'signin');
  await page.getByLabel('Email').fill(admin().email);
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('wrong email or password');
  await expect(page.getByLabel('Email')).toHaveValue(admin().email);
  await look(page, 'signin-error');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('#dialog-list [role=option]').first()).toBeVisible();
  await expect(page.getByTestId('unread-total')).toBeVisible();
});

test('signing out ends the session: the page shows sign-in and the API refuses the cookie', async ({ page }) => {
  // A session of its own: the one the other tests share stays.
  await signInThroughPage(page, admin());
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  const status = await page.evaluate(async () => (await fetch('/v1/auth/me')).status);
  expect(status).toBe(401);
  await page.reload();
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
});

test('an empty installation offers its first project; errors stand beside their fields', async ({ page }) => {
  const root = 'root-token-of-the-first-run-test';
  const empty = await startServe({ env: { SWITCHBOARD_ROOT_TOKEN: root } });
  try {
    await page.goto(empty.url + '/');
    await expect(page.getByRole('heading', { name: 'Create the first project' })).toBeVisible();
    await look(page, 'first-run');
    await page.getByLabel('Root token').fill('a-wrong-root-token');
    await page.getByLabel('Project name').fill('Acme support');
    await page.getByLabel('Your name').fill('Ada Admin');
    await page.getByLabel('Email').fill('not-an-email');
    await page.getByLabel('Password').fill('long-enough-password-1');
    await page.getByRole('button', { name: 'Create the project' }).click();
    await expect(page.locator('#root-error')).toBeVisible();
    await page.getByLabel('Root token').fill(root);
    await page.getByRole('button', { name: 'Create the project' }).click();
    await expect(page.locator('#email-error')).toBeVisible();
    await expect(page.getByLabel('Email')).toHaveAttribute('aria-invalid', 'true');
    // Nothing typed was lost on either error.
    await expect(page.getByLabel('Project name')).toHaveValue('Acme support');
    await expect(page.getByLabel('Password')).toHaveValue('long-enough-password-1');
    await look(page, 'first-run-error');
    await page.getByLabel('Email').fill('ada@example.com');
    await page.getByRole('button', { name: 'Create the project' }).click();
    await expect(page.getByText('Acme support')).toBeVisible();
    await expect(page.getByText('No dialogs here.')).toBeVisible();
    await look(page, 'first-run-inbox');
  } finally {
    await page.close();
    await empty.stop();
  }
});
