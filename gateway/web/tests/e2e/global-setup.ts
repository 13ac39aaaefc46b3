// One demo server for every browser test: `serve --demo` on a fresh directory and a free port.
// Its address and accounts reach the tests through the environment, with one session per
// account signed in here once (sign-in is throttled per account: 10, then 1 per 30 s), which
// the tests' pages and API calls take instead of signing in again.
import { request } from '@playwright/test';
import { startServe } from '../../scripts/serve.mjs';
import { PASSWORD, type Session } from './helpers';

export default async function globalSetup() {
  const serve = await startServe({ demo: true });
  if (serve.accounts.length < 2) throw new Error(`the demo printed too few accounts: ${JSON.stringify(serve.accounts)}`);
  process.env.SB_URL = serve.url;
  process.env.SB_ACCOUNTS = JSON.stringify(serve.accounts);
  const sessions: Record<string, Session> = {};
  for (const account of serve.accounts as { email: string }[]) {
    const context = await request.newContext({ baseURL: serve.url });
    const answer = await context.post('/v1/auth/login', { data: { email: account.email, password: PASSWORD } });
    if (answer.status() !== 200) throw new Error(`${account.email} cannot sign in: ${answer.status()} ${await answer.text()}`);
    const body = (await answer.json()) as { token: string; operator: string };
    const { cookies } = await context.storageState();
    sessions[account.email] = { token: body.token, operator: body.operator, cookies };
    await context.dispose();
  }
  process.env.SB_SESSIONS = JSON.stringify(sessions);
  return async () => {
    await serve.stop();
  };
}
