// One demo server for every browser test: `serve --demo` on a fresh directory and a free port.
// Its address and accounts reach the tests through the environment.
import { startServe } from '../../scripts/serve.mjs';

export default async function globalSetup() {
  const serve = await startServe({ demo: true });
  if (serve.accounts.length < 2) throw new Error(`the demo printed too few accounts: ${JSON.stringify(serve.accounts)}`);
  process.env.SB_URL = serve.url;
  process.env.SB_ACCOUNTS = JSON.stringify(serve.accounts);
  return async () => {
    await serve.stop();
  };
}
