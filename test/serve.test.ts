// `alexnet serve`: GET and HEAD only (other methods 405, with Allow), a port out of range is a
// usage error, an address other machines can reach is said with a URL they can use, and IPv6
// addresses print as URLs (in brackets).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { test } from 'node:test';
import { servedAt } from '../src/cli/serve.js';

const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;

/** Starts `alexnet serve` with `args`; resolves with its first stdout line and its stderr so far. */
function start(args: string[]): Promise<{ child: ChildProcess; line: string; stderr: () => string }> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--port', '0', ...args]);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child, line: out.split('\n')[0], stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`alexnet serve exited (${code}): ${err}`)));
  });
}

function fetchStatus(url: string, method: string): Promise<{ status: number; allow?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, allow: res.headers.allow }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('methods other than GET and HEAD get 405 with Allow; GET and HEAD still serve the page', async () => {
  const { child, line } = await start([]);
  try {
    const url = /^serving the page at (http:\/\/127\.0\.0\.1:\d+\/) \(Ctrl-C stops\)$/.exec(line)?.[1];
    assert.ok(url, line);
    assert.equal((await fetchStatus(url, 'GET')).status, 200);
    assert.equal((await fetchStatus(url, 'HEAD')).status, 200);
    // Before: 404 for every method but GET and HEAD, as if the page were missing.
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) assert.deepEqual(await fetchStatus(url, method), { status: 405, allow: 'GET, HEAD' }, method);
    assert.deepEqual(await fetchStatus(`${url}no-such-file.js`, 'POST'), { status: 405, allow: 'GET, HEAD' });
    assert.equal((await fetchStatus(`${url}no-such-file.js`, 'GET')).status, 404);
  } finally {
    child.kill();
  }
});

test('--port 70000 is a usage error naming the range', () => {
  const r = spawnSync(process.execPath, [MAIN, 'serve', '--port', '70000'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.stderr, 'alexnet: --port: expected an integer from 0 to 65535, found "70000"\n');
  assert.equal(r.status, 2);
});

test('--host 0.0.0.0 warns that other machines can reach the page and prints a URL they can use', async () => {
  const { child, line, stderr } = await start(['--host', '0.0.0.0']);
  try {
    const external = Object.values(networkInterfaces()).flat().filter((i) => i && !i.internal && !i.address.startsWith('fe80:'));
    const address = (external.find((i) => i!.family === 'IPv4') ?? external[0])?.address;
    const port = /:(\d+)\/ /.exec(line)?.[1];
    const url = `http://${address === undefined ? 'localhost' : address.includes(':') ? `[${address}]` : address}:${port}/`;
    assert.equal(line, `serving the page at ${url} (Ctrl-C stops)`);
    for (let i = 0; i < 100 && !stderr().endsWith('\n'); i++) await new Promise((r) => setTimeout(r, 20)); // stderr's pipe may lag stdout's
    assert.equal(stderr(), `warning: --host 0.0.0.0 listens on every network interface (0.0.0.0): other machines can reach the page${address ? ` at ${url}` : ''}; --host 127.0.0.1 keeps it to this machine\n`);
    // Before: http://localhost:PORT/, which other machines cannot open, and no warning.
    assert.equal((await fetchStatus(url, 'GET')).status, 200);
  } finally {
    child.kill();
  }
});

test('an IPv6 host prints as a URL, in brackets', async () => {
  const { child, line, stderr } = await start(['--host', '::1']);
  try {
    // Before: http://::1:PORT/, not a URL.
    const url = /^serving the page at (http:\/\/\[::1\]:\d+\/) \(Ctrl-C stops\)$/.exec(line)?.[1];
    assert.ok(url, line);
    assert.equal(stderr(), '');
    assert.equal((await fetchStatus(url, 'GET')).status, 200);
  } finally {
    child.kill();
  }
  // Where no interface but loopback exists, listening everywhere falls back to localhost; IPv6 addresses are bracketed.
  assert.deepEqual(servedAt('::', 8080, { lo: [] }), {
    url: 'http://localhost:8080/',
    warning: 'warning: --host :: listens on every network interface (::): other machines can reach the page; --host 127.0.0.1 keeps it to this machine',
  });
  const v6 = (address: string) => ({ eth0: [{ address, netmask: 'ffff::', family: 'IPv6' as const, mac: '00:00:00:00:00:00', internal: false, cidr: null, scopeid: 2 }] });
  assert.equal(servedAt('::', 8080, v6('fd00::7')).url, 'http://[fd00::7]:8080/');
  assert.equal(servedAt('::', 8080, v6('fe80::1')).url, 'http://localhost:8080/', 'a link-local address is no URL for others');
  assert.equal(servedAt('2001:db8::5', 8080, v6('fd00::7')).url, 'http://[2001:db8::5]:8080/');
});
