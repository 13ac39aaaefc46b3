// The UI's size budget (issue 18: JavaScript + CSS ≤ 200 KB gzipped in all): builds into a
// temporary directory, prints each file's raw and gzipped size and the total, and exits 1 over
// the budget. The last stdout line is one JSON object.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const BUDGET = 200 * 1024;
const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = mkdtempSync(join(tmpdir(), 'switchboard-web-size-'));
try {
  execFileSync(join(web, 'node_modules/.bin/vite'), ['build', '--outDir', out, '--emptyOutDir', '--logLevel', 'warn'], {
    cwd: web,
    stdio: 'inherit',
  });
  const files = readdirSync(join(out, 'assets')).filter((f) => /\.(js|css)$/.test(f));
  let raw = 0;
  let gzipped = 0;
  for (const file of files) {
    const bytes = readFileSync(join(out, 'assets', file));
    const packed = gzipSync(bytes, { level: 9 }).length;
    raw += bytes.length;
    gzipped += packed;
    console.log(`${file}: ${bytes.length} B, ${packed} B gzipped`);
  }
  console.log(JSON.stringify({ js_css_bytes: raw, js_css_gzip_bytes: gzipped, budget_bytes: BUDGET }));
  if (gzipped > BUDGET) {
    console.error(`over the budget: ${gzipped} B gzipped > ${BUDGET} B`);
    process.exitCode = 1;
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
