// The page (web/) built into dist/web: the library's browser code from src/ bundled with it, the
// training worker as a module worker, and the bundled Fashion-MNIST subset copied beside it.
// `npm run web` serves it for development with the headers cross-origin isolation needs
// (SharedArrayBuffer, WebAssembly threads), as `alexnet serve` does for the built page.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  root: fileURLToPath(new URL('./web', import.meta.url)),
  base: './',
  publicDir: fileURLToPath(new URL('./data', import.meta.url)),
  build: { outDir: fileURLToPath(new URL('./dist/web', import.meta.url)), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 2048 },
  worker: { format: 'es' },
  server: { headers: isolation },
  preview: { headers: isolation },
});
