// Starts a real `switchboard serve` for the UI's scripts and browser tests: the binary cargo
// built (SWITCHBOARD_BIN, else $CARGO_TARGET_DIR or ../../target, debug/switchboard — the bench
// asks for release/), on a fresh temporary data directory (or a given one, kept) and a free
// loopback port (`--listen 127.0.0.1:0`), answering once it printed `listening on ADDR`.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** @param {'debug' | 'release'} profile */
export function binary(profile = 'debug') {
  if (process.env.SWITCHBOARD_BIN) return process.env.SWITCHBOARD_BIN;
  const target = process.env.CARGO_TARGET_DIR ?? resolve(here, '../../../target');
  const path = join(target, profile, 'switchboard');
  if (!existsSync(path)) {
    const flag = profile === 'release' ? ' --release' : '';
    throw new Error(`no ${path}: build it first (cargo build${flag} -p switchboard-gateway --bin switchboard)`);
  }
  return path;
}

/**
 * `data`: serve this data directory (left in place at `stop`) instead of a fresh temporary one.
 * @param {{ demo?: boolean, env?: Record<string,string>, data?: string, profile?: 'debug' | 'release' }} options
 * @returns {Promise<{ url: string, accounts: { email: string, role: string }[], data: string, pid: number, stop: () => Promise<void> }>}
 */
export async function startServe(options = {}) {
  const data = options.data ?? mkdtempSync(join(tmpdir(), 'switchboard-web-'));
  const args = ['serve', '--data', data, '--listen', '127.0.0.1:0'];
  if (options.demo) args.push('--demo');
  const child = spawn(binary(options.profile), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...options.env },
  });
  const stderr = [];
  child.stderr.on('data', (chunk) => {
    stderr.push(String(chunk));
    if (stderr.length > 200) stderr.shift();
  });
  const accounts = [];
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((ok, fail) => {
    // A large data directory is opened (read models mapped, the log's tail checked) first.
    const timer = setTimeout(() => fail(new Error(`serve did not listen within 600 s: ${stderr.join('')}`)), 600_000);
    let address = null;
    child.on('exit', (code) => fail(new Error(`serve exited (${code}): ${stderr.join('')}`)));
    lines.on('line', (line) => {
      const listening = /^listening on (\S+)$/.exec(line);
      if (listening) address = `http://${listening[1]}`;
      const account = /^demo: {3}(\S+) \((\w+)\)$/.exec(line);
      if (account) accounts.push({ email: account[1], role: account[2] });
      // The demo's accounts follow `listening`; without --demo, `listening` is enough.
      const done = options.demo ? /^demo: {3}/.test(line) || /^demo: the log/.test(line) : address !== null;
      if (address && done) {
        clearTimeout(timer);
        // Later lines (more accounts) are read before the caller goes on.
        setTimeout(() => ok(address), 100);
      }
    });
  });
  return {
    url,
    accounts,
    data,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((done) => child.on('exit', done));
        child.kill('SIGTERM');
        // A graceful stop waits for open requests, and a browser's live stream is one.
        const kill = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(kill);
      }
      if (options.data === undefined) rmSync(data, { recursive: true, force: true });
    },
  };
}
