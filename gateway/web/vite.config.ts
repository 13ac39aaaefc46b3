// The web inbox's build: `gateway/build.rs` runs `vite build --outDir $OUT_DIR/web`, and
// `switchboard serve` embeds the result. `npm run dev` serves it with the API proxied to a
// running `serve` (SWITCHBOARD_URL, default http://127.0.0.1:8080).
import { defineConfig } from 'vitest/config';

const api = process.env.SWITCHBOARD_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: {
    target: 'es2022',
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { proxy: { '/v1': { target: api, changeOrigin: false } } },
  test: { include: ['tests/unit/**/*.test.ts'], environment: 'node' },
});
