// The web inbox's time and DOM budgets (issue 18), measured in Debian's chromium (Playwright,
// `executablePath` from CHROMIUM_BIN, default /usr/bin/chromium) against a real release
// `switchboard serve` on a data directory that `switchboard bench api` filled (its log, read
// models and the accounts it made with its bench password):
//
//   navigation  from navigation to the first page of the list drawn ≤ 500 ms: the `sb:list-drawn`
//               mark the list sets once its first rows are in the DOM and painted, read from the
//               page's own clock (User Timing is relative to the navigation's start). `cold`: a
//               new browser context each run (empty HTTP cache); `warm`: reloads of one page.
//   inbound     an inbound message appears in an open page ≤ 150 ms (p99) after its webhook is
//               answered: Telegram updates posted to a channel connected for the run (its Bot
//               API is a tiny fake here, answering `getMe` and `setWebhook`), one at a time; the
//               Node clock takes the moment the 200 arrives, a MutationObserver in the page the
//               moment the message's text is in the list (and the next frame), and both are put
//               on one clock by the offset measured with the shortest of several round trips.
//   dom         scrolling through 10k rows keeps fewer than 300 rows in the DOM: the list is
//               scrolled a viewport per frame until row `--rows`, and a MutationObserver keeps
//               the most rows ever in it.
//
// Usage (gateway/web): npm run bench -- --data DIR [--email E] [--runs 20] [--messages 200]
//   [--rows 10000] [--phases navigation,inbound,dom] [--trace FILE] [--json]. Prints figures,
//   then one JSON line; exits 1 when a budget is missed. `--trace`: a Chromium trace of the first
//   counted navigation (open it in chrome://tracing or Perfetto). Each run connects one more Telegram channel and adds its messages to
//   DIR's log: bench a copy of the dataset.

import { chromium } from '@playwright/test';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { startServe } from './serve.mjs';

const BUDGET = { navigation_ms: 500, inbound_p99_ms: 150, dom_rows: 300 };
/** `switchboard bench api`'s password for the accounts it makes (gateway/src/bench/api/setup.rs). */
const BENCH_PASSWORD = 'switchboard-bench-api';
const LIST_DRAWN_MARK = 'sb:list-drawn';
const BOT_TOKEN = '7000000002:AAE-switchboard-web-bench';
const SECRET_HEADER = 'X-Telegram-Bot-Api-Secret-Token';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string' },
    // op4 is an admin of the dataset's first project: every dialog of it is in the list.
    email: { type: 'string', default: 'op4@shop1.example' },
    runs: { type: 'string', default: '20' },
    messages: { type: 'string', default: '200' },
    rows: { type: 'string', default: '10000' },
    trace: { type: 'string' },
    phases: { type: 'string', default: 'navigation,inbound,dom' },
    json: { type: 'boolean', default: false },
  },
});
if (!args.data) {
  console.error('usage: npm run bench -- --data DIR (a copy of a `switchboard bench api` data directory)');
  process.exit(2);
}
const RUNS = Number(args.runs);
const MESSAGES = Number(args.messages);
const ROWS = Number(args.rows);
const PHASES = new Set(args.phases.split(','));

function say(line) {
  if (!args.json) console.log(line);
}

/** Wall-clock milliseconds with sub-millisecond resolution, as the page's `timeOrigin + now()`. */
const nodeNow = () => performance.timeOrigin + performance.now();

/** Nearest-rank percentile of numbers. */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function summary(values) {
  const round = (v) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    n: values.length,
    median: round(percentile(values, 50)),
    p90: round(percentile(values, 90)),
    p99: round(percentile(values, 99)),
    max: round(values.length ? Math.max(...values) : null),
  };
}

const show = (s) => `median ${s.median} ms, p90 ${s.p90} ms, p99 ${s.p99} ms, max ${s.max} ms (n=${s.n})`;

/** The Bot API as far as connecting a channel needs it: `getMe`, and `setWebhook`'s secret kept. */
async function fakeTelegram() {
  const state = { secret: null };
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const method = /\/bot[^/]+\/(\w+)$/.exec(request.url ?? '')?.[1];
      let answer = { ok: false, error_code: 404, description: 'Not Found' };
      if (method === 'getMe') {
        answer = { ok: true, result: { id: 1, is_bot: true, first_name: 'Bench', username: 'web_bench_bot' } };
      } else if (method === 'setWebhook') {
        state.secret = JSON.parse(body || '{}').secret_token ?? null;
        answer = { ok: true, result: true, description: 'Webhook was set' };
      }
      response.writeHead(answer.ok ? 200 : 404, { 'content-type': 'application/json' });
      response.end(JSON.stringify(answer));
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return { base: `http://127.0.0.1:${port}`, state, close: () => new Promise((ok) => server.close(ok)) };
}

async function call(url, method, path, token, body) {
  const answer = await fetch(url + path, {
    method,
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
      ...(method === 'GET' ? {} : { 'idempotency-key': crypto.randomUUID() }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await answer.text();
  if (!answer.ok) throw new Error(`${method} ${path} answered ${answer.status}: ${text}`);
  return JSON.parse(text);
}

/**
 * Unpins the dialogs pinned in the signed-in person's list. `bench api`'s live phase pins and
 * unpins rows of its sessions' first pages and leaves hundreds pinned; pinned rows come first
 * (F1.3), so a new message's row would land below them, out of sight. Answers how many.
 */
async function unpinAll(url, token) {
  const pinned = [];
  let cursor = null;
  for (;;) {
    const query = `archived=true&limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await call(url, 'GET', `/v1/dialogs?${query}`, token);
    const rows = page.items.filter((row) => row.pinned);
    pinned.push(...rows.map((row) => row.dialog));
    cursor = page.next_cursor ?? null;
    if (rows.length < page.items.length || cursor === null) break;
  }
  let seq = 0;
  for (let i = 0; i < pinned.length; i += 8) {
    const answers = await Promise.all(
      pinned.slice(i, i + 8).map((dialog) => call(url, 'POST', `/v1/dialogs/${dialog}/actions`, token, { action: 'unpin' })),
    );
    for (const answer of answers) seq = Math.max(seq, answer.seq);
  }
  // The lists answer once the read models applied the last one.
  if (seq > 0) await call(url, 'GET', `/v1/dialogs?limit=1&min_seq=${seq}`, token);
  return pinned.length;
}

/**
 * What one navigation measured, from the page's own clock (ms since the navigation started).
 * Read a second after the load event: Playwright's first evaluation in a page runs a script of
 * its own (~20 ms of the main thread), which must not land on the path being measured.
 */
async function navigationFigures(page) {
  await page.waitForTimeout(1_000);
  await page.waitForFunction((mark) => performance.getEntriesByName(mark).length > 0, LIST_DRAWN_MARK, {
    timeout: 30_000,
  });
  return page.evaluate((mark) => {
    const drawn = performance.getEntriesByName(mark)[0];
    const nav = performance.getEntriesByType('navigation')[0];
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const resources = performance
      .getEntriesByType('resource')
      .filter((r) => r.startTime < drawn.startTime)
      .map((r) => {
        const url = new URL(r.name);
        const name = url.pathname.startsWith('/assets/') ? url.pathname.replace(/-[\w-]+\./, '.') : url.pathname;
        return { name, start: r.startTime, end: r.responseEnd, wait: r.responseStart - r.requestStart };
      });
    return {
      drawn: drawn.startTime,
      rows: drawn.detail?.rows ?? null,
      html: nav.responseEnd,
      dom_content_loaded: nav.domContentLoadedEventEnd,
      fcp: fcp?.startTime ?? null,
      resources,
    };
  }, LIST_DRAWN_MARK);
}

/** Medians of each named field over the runs' records. */
function medians(records) {
  const names = new Set(records.flatMap((r) => Object.keys(r)));
  const out = {};
  for (const name of names) {
    const values = records.map((r) => r[name]).filter((v) => Number.isFinite(v));
    const v = percentile(values, 50);
    out[name] = v === null ? null : Math.round(v * 10) / 10;
  }
  return out;
}

async function measureNavigation(browser, storageState, url) {
  const cold = [];
  const records = [];
  // One run first, not counted: serve's first answers read its files into the page cache.
  for (let run = -1; run < RUNS; run += 1) {
    const context = await browser.newContext({ storageState, viewport: { width: 1360, height: 860 } });
    const page = await context.newPage();
    const tracing = args.trace && run === 0;
    if (tracing) await browser.startTracing(page, { path: args.trace, screenshots: false });
    await page.goto(url + '/');
    const figures = await navigationFigures(page);
    if (tracing) await browser.stopTracing();
    await context.close();
    if (run < 0) continue;
    cold.push(figures.drawn);
    const record = { '(html) end': figures.html, '(first-contentful-paint)': figures.fcp };
    for (const r of figures.resources) {
      record[`${r.name} start`] = r.start;
      record[`${r.name} end`] = r.end;
      record[`${r.name} server_wait`] = r.wait;
    }
    records.push(record);
  }
  // Warm: one page reloaded (its HTTP cache holds the script and the style sheet).
  const warm = [];
  const context = await browser.newContext({ storageState, viewport: { width: 1360, height: 860 } });
  const page = await context.newPage();
  await page.goto(url + '/');
  await navigationFigures(page);
  for (let run = 0; run < RUNS; run += 1) {
    await page.reload();
    warm.push((await navigationFigures(page)).drawn);
  }
  await context.close();
  return { cold: summary(cold), warm: summary(warm), breakdown: medians(records) };
}

/** The page's clock minus Node's, from the round trip with the least time in flight. */
async function clockOffset(page) {
  let best = null;
  for (let i = 0; i < 30; i += 1) {
    const sent = nodeNow();
    const theirs = await page.evaluate(() => performance.timeOrigin + performance.now());
    const back = nodeNow();
    if (!best || back - sent < best.rtt) best = { rtt: back - sent, offset: theirs - (sent + back) / 2 };
  }
  return best;
}

function telegramUpdate(n, client, text) {
  return JSON.stringify({
    update_id: n,
    message: {
      message_id: n,
      date: Math.floor(Date.now() / 1000),
      chat: { id: client, type: 'private', first_name: 'Web bench' },
      from: { id: client, is_bot: false, first_name: 'Web bench', language_code: 'en' },
      text,
    },
  });
}

async function measureInbound(browser, storageState, url, webhook) {
  const context = await browser.newContext({ storageState, viewport: { width: 1360, height: 860 } });
  const page = await context.newPage();
  const seen = new Map();
  const waiting = new Map();
  await page.exposeFunction('__benchSeen', (n, dom, frame) => {
    seen.set(n, { dom, frame });
    waiting.get(n)?.();
  });
  await page.goto(url + '/');
  await navigationFigures(page);
  // The message's text (`wbm<n>z`) in the list's DOM: the moment of the mutation, and the first
  // moment after the frame that draws it (a task queued by requestAnimationFrame, which runs
  // just before that frame's paint).
  await page.evaluate(() => {
    const list = document.getElementById('dialog-list');
    const found = new Set();
    new MutationObserver(() => {
      const dom = performance.timeOrigin + performance.now();
      for (const match of (list.textContent ?? '').matchAll(/wbm(\d+)z/g)) {
        const n = Number(match[1]);
        if (found.has(n)) continue;
        found.add(n);
        requestAnimationFrame(() =>
          setTimeout(() => void window.__benchSeen(n, dom, performance.timeOrigin + performance.now()), 0),
        );
      }
    }).observe(list, { subtree: true, childList: true, characterData: true });
  });
  const before = await clockOffset(page);
  const latencies = [];
  const frames = [];
  let unseen = 0;
  // Clients of this run (new dialogs at first, then the same 20 again), apart from earlier runs'.
  const base = Date.now() % 1_000_000_000;
  for (let k = 0; k < MESSAGES; k += 1) {
    const appeared = new Promise((ok) => {
      waiting.set(k, ok);
      setTimeout(ok, 5_000);
    });
    const body = telegramUpdate(base + k, 9_000_000_000 + (base % 1000) * 100 + (k % 20), `web bench wbm${k}z`);
    const answer = await fetch(url + webhook.path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SECRET_HEADER]: webhook.secret },
      body,
    });
    const answered = nodeNow();
    await answer.arrayBuffer();
    if (answer.status !== 200) throw new Error(`the webhook answered ${answer.status}`);
    await appeared;
    waiting.delete(k);
    const at = seen.get(k);
    if (!at) {
      unseen += 1;
    } else {
      latencies.push(at.dom - before.offset - answered);
      frames.push(at.frame - before.offset - answered);
    }
    await new Promise((ok) => setTimeout(ok, 50 + Math.random() * 100));
  }
  const after = await clockOffset(page);
  await context.close();
  return {
    dom: summary(latencies),
    frame: summary(frames),
    unseen,
    clock: { rtt_ms: before.rtt, drift_ms: after.offset - before.offset },
  };
}

async function measureScroll(browser, storageState, url) {
  const context = await browser.newContext({ storageState, viewport: { width: 1360, height: 860 } });
  const page = await context.newPage();
  await page.goto(url + '/');
  await navigationFigures(page);
  const scroll = async () =>
    page.evaluate(async (target) => {
      const list = document.getElementById('dialog-list');
      const spacer = list.firstElementChild;
      const rowHeight = list.querySelector('[role=option]').getBoundingClientRect().height;
      let most = spacer.childElementCount;
      const observer = new MutationObserver(() => {
        most = Math.max(most, spacer.childElementCount);
      });
      observer.observe(spacer, { childList: true });
      const started = performance.now();
      const intervals = [];
      let last = started;
      let reached = 0;
      while (performance.now() - started < 600_000) {
        const count = Number(list.dataset.count);
        reached = Math.floor((list.scrollTop + list.clientHeight) / rowHeight);
        if (reached >= target || (list.dataset.complete === 'true' && reached >= count)) break;
        list.scrollTop += list.clientHeight;
        const now = await new Promise((ok) => requestAnimationFrame(ok));
        intervals.push(now - last);
        last = now;
      }
      observer.disconnect();
      most = Math.max(most, spacer.childElementCount);
      return {
        reached: Math.min(reached, Number(list.dataset.count)),
        loaded: Number(list.dataset.count),
        most_rows: most,
        seconds: (performance.now() - started) / 1000,
        intervals,
      };
    }, ROWS);
  const scrolled = async () => {
    const { intervals, ...figures } = await scroll();
    return { ...figures, frame_p50_ms: percentile(intervals, 50), frame_p99_ms: percentile(intervals, 99) };
  };
  let figures = await scrolled();
  let archived = false;
  if (figures.reached < ROWS) {
    // The open dialogs are fewer than `--rows`: the archive switch lists every dialog.
    archived = true;
    await page.locator('.folders .switch input[type=checkbox]').check();
    await page.waitForFunction(() => document.querySelector('#dialog-list [role=option]') !== null);
    figures = await scrolled();
  }
  await context.close();
  return { ...figures, archived };
}

async function main() {
  const served = await startServe({ data: args.data, profile: 'release' });
  const telegram = await fakeTelegram();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  try {
    const url = served.url;
    say(`serve at ${url} on ${args.data}, signed in as ${args.email}`);
    const signing = await browser.newContext();
    const login = await signing.request.post(url + '/v1/auth/login', {
      data: { email: args.email, password: BENCH_PASSWORD },
    });
    if (login.status() !== 200) {
      throw new Error(`sign-in answered ${login.status()}: was DIR filled by \`switchboard bench api\`?`);
    }
    const { token } = await login.json();
    const storageState = await signing.storageState();
    await signing.close();

    const connected = await call(url, 'POST', '/v1/channels', token, {
      kind: 'telegram',
      name: `web bench ${new Date().toISOString()}`,
      bot_token: BOT_TOKEN,
      api_base: telegram.base,
    });
    if (!telegram.state.secret) throw new Error('connecting the channel set no webhook secret');
    const webhook = { path: `/v1/webhooks/telegram/${connected.channel}`, secret: telegram.state.secret };
    const unpinned = await unpinAll(url, token);
    say(`unpinned ${unpinned} dialogs left pinned by \`bench api\``);

    const met = {};
    let navigation = null;
    let inbound = null;
    let dom = null;
    if (PHASES.has('navigation')) {
      navigation = await measureNavigation(browser, storageState, url);
      say(`navigation → first page drawn, cold: ${show(navigation.cold)}`);
      say(`navigation → first page drawn, warm: ${show(navigation.warm)}`);
      say("  medians over the cold runs (ms from the navigation's start; server_wait: request sent → first byte):");
      for (const [name, value] of Object.entries(navigation.breakdown)) say(`    ${name}: ${value}`);
      met.navigation = navigation.cold.median !== null && navigation.cold.median <= BUDGET.navigation_ms;
    }
    if (PHASES.has('inbound')) {
      inbound = await measureInbound(browser, storageState, url, webhook);
      say(`inbound webhook 200 → text in the list's DOM: ${show(inbound.dom)}; unseen ${inbound.unseen}`);
      say(`inbound webhook 200 → after the frame drawing it: ${show(inbound.frame)}`);
      say(`  clocks: round trip ${inbound.clock.rtt_ms.toFixed(2)} ms, drift over the run ${inbound.clock.drift_ms.toFixed(2)} ms`);
      met.inbound = inbound.unseen === 0 && inbound.dom.p99 !== null && inbound.dom.p99 <= BUDGET.inbound_p99_ms;
    }
    if (PHASES.has('dom')) {
      dom = await measureScroll(browser, storageState, url);
      say(
        `scroll: ${dom.reached} rows reached (${dom.loaded} loaded${dom.archived ? ', archive switch on' : ''}) ` +
          `in ${dom.seconds.toFixed(1)} s, at most ${dom.most_rows} rows in the DOM; ` +
          `frame interval p50 ${dom.frame_p50_ms?.toFixed(1)} ms, p99 ${dom.frame_p99_ms?.toFixed(1)} ms`,
      );
      met.dom = dom.reached >= ROWS && dom.most_rows < BUDGET.dom_rows;
    }
    console.log(JSON.stringify({ budgets: BUDGET, met, unpinned, navigation, inbound, dom }));
    if (Object.values(met).includes(false)) process.exitCode = 1;
  } finally {
    await browser.close();
    await telegram.close();
    await served.stop();
  }
}

await main();
