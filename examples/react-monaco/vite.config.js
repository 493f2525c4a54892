// Vite bundles React, Monaco (with its editor worker, through `?worker`) and
// @pairpad/client into dist/: the page loads nothing from another host but
// the pairpad server it talks to.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: {
    chunkSizeWarningLimit: 5000,
    // The timing report of slow plugins (the worker bundle) is noise in test logs.
    rolldownOptions: { checks: { pluginTimings: false } },
  },
  worker: {
    format: 'es',
  },
});
