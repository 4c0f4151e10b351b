// `alexnet serve`: the page (built into dist/web by `npm run build`) over HTTP, with the headers
// that make it cross-origin isolated (COOP same-origin, COEP require-corp), which
// SharedArrayBuffer and WebAssembly threads need. Static files only, never outside dist/web;
// GET and HEAD only (other methods: 405). Where other machines can reach it, it says so.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AlexNetError } from '../core/errors.js';

/** The built page: dist/web, beside dist/src. */
export const WEB_ROOT = fileURLToPath(new URL('../../web/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.gz': 'application/gzip',
};

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** The file under `root` that a URL path names, or null when it leaves the root. */
function fileFor(root: string, urlPath: string): string | null {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0]);
  } catch {
    return null;
  }
  const file = normalize(join(root, path.endsWith('/') ? `${path}index.html` : path));
  return file.startsWith(root.endsWith(sep) ? root : root + sep) ? file : null;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** A host as a URL writes it: an IPv6 address in brackets. */
const urlHost = (host: string) => (host.includes(':') ? `[${host}]` : host);

/**
 * The URL to open for a server listening on `host:port`, and, where other machines can reach
 * it, a warning saying so. Listening on every interface (0.0.0.0, ::), the URL names this
 * machine's first external address (IPv4 first), one that other machines can use.
 */
export function servedAt(host: string, port: number, interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): { url: string; warning?: string } {
  const any = host === '0.0.0.0' || host === '::';
  // Link-local IPv6 addresses (fe80::) need the interface named in the URL: not offered.
  const external = Object.values(interfaces).flat().filter((i): i is NetworkInterfaceInfo => i !== undefined && !i.internal && !i.address.startsWith('fe80:'));
  const reachable = (external.find((i) => i.family === 'IPv4') ?? external[0])?.address;
  const url = `http://${urlHost(any ? (reachable ?? 'localhost') : host)}:${port}/`;
  if (LOOPBACK.test(host)) return { url };
  const where = any ? `every network interface (${host})` : host;
  return { url, warning: `warning: --host ${host} listens on ${where}: other machines can reach the page${any && !reachable ? '' : ` at ${url}`}; --host 127.0.0.1 keeps it to this machine` };
}

/** Serves `root` on `host:port`; resolves once it listens (port 0: any free port). */
export async function serve(root: string, port: number, host: string): Promise<Server> {
  const index = await stat(join(root, 'index.html')).catch(() => null);
  if (!index) throw new AlexNetError(`${root} has no index.html: build the page first (npm run build)`);
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain; charset=utf-8', Allow: 'GET, HEAD', ...ISOLATION });
      res.end('method not allowed: the page is read with GET and HEAD only\n');
      return;
    }
    const file = fileFor(root, req.url ?? '/');
    const info = file ? await stat(file).catch(() => null) : null;
    if (!file || !info?.isFile()) {
      res.writeHead(file ? 404 : 400, { 'Content-Type': 'text/plain; charset=utf-8', ...ISOLATION });
      res.end(file ? 'not found\n' : 'bad path\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Content-Length': info.size, 'Cache-Control': 'no-cache', ...ISOLATION });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new AlexNetError(err.code === 'EADDRINUSE' ? `--port ${port}: already in use; choose another with --port` : `cannot listen on ${host}:${port} (${err.message})`)),
    );
    server.listen(port, host, resolve);
  });
  return server;
}
