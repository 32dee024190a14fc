// The live status page in headless Chromium: a real daemon on a simulated clock (+50 ppm; the
// host's clock is never touched) follows `dantesync gm-sim` on loopback; the page must load,
// show the mode in the tray's colour, plot points on its charts (counted from the page's own
// state, not guessed from pixels), and turn red when the daemon goes away.
// Screenshot: target/ui/status-page.png.
//
// Run by scripts/ui-test.sh (npm ci, then `npm test` here). DANTESYNC_BIN names the binary
// (default target/debug/dantesync); CHROMIUM the browser (default /usr/bin/chromium).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = process.env.DANTESYNC_BIN || path.join(ROOT, 'target/debug/dantesync');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOT = path.join(ROOT, 'target/ui/status-page.png');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.on('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function freeTcpPort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A child process whose output goes to a log file; `stop()` kills it and waits. */
function start(args, log, env = {}) {
  const out = fs.openSync(log, 'w');
  const child = spawn(BIN, args, {
    stdio: ['ignore', out, out],
    env: { ...process.env, DANTESYNC_FORBID_CLOCK_WRITES: '1', ...env },
  });
  const exited = new Promise((r) => child.on('exit', r));
  return {
    child,
    log: () => fs.readFileSync(log, 'utf8'),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      fs.closeSync(out);
    },
  };
}

async function waitFor(what, limitMs, probe) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < limitMs) {
    try {
      last = await probe();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(200);
  }
  throw new Error(`${what}: not within ${limitMs} ms (last: ${last})`);
}

test('the live page shows the mode in colour and charts the last hour', { timeout: 180_000 }, async () => {
  assert.ok(fs.existsSync(BIN), `no dantesync binary at ${BIN}: build it first (cargo build -p dantesync)`);
  assert.ok(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}: apt-get install -y chromium`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dantesync-ui-'));
  const cleanups = [() => fs.rmSync(dir, { recursive: true, force: true })];
  try {
    const [event, general, http] = [await freeUdpPort(), await freeUdpPort(), await freeTcpPort()];
    const config = path.join(dir, 'config.json');
    fs.writeFileSync(config, JSON.stringify({
      clock: { kind: 'simulated', drift_ppm: 50.0, offset_ms: 0.0 },
      ptp: { event_port: event, general_port: general },
      query_api: { enabled: false },
      http_status: { enabled: true, port: http, bind: '127.0.0.1' },
      state_file: path.join(dir, 'state.json'),
    }, null, 2));
    const daemon = start(['--config', config], path.join(dir, 'daemon.log'), { XDG_RUNTIME_DIR: dir });
    cleanups.unshift(() => daemon.stop());
    const leader = start(['gm-sim', '--dest', '127.0.0.1', '--event-port', String(event),
      '--general-port', String(general), '--delay-req-port', '0', '--drift-ppm', '0',
      '--duration-s', '150'], path.join(dir, 'gm-sim.log'));
    cleanups.unshift(() => leader.stop());

    const base = `http://127.0.0.1:${http}`;
    await waitFor('the daemon answering /api/status', 15_000, async () => (await fetch(`${base}/api/status`)).ok)
      .catch((e) => { throw new Error(`${e.message}\n--- daemon log:\n${daemon.log()}`); });

    const userDataDir = path.join(dir, 'chromium-profile');
    const browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1000, height: 900 },
    });
    cleanups.unshift(() => browser.close());
    const page = await browser.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
    page.on('request', (r) => {
      if (!r.url().startsWith(base)) problems.push(`request off the daemon: ${r.url()}`);
    });

    await page.goto(`${base}/`);
    assert.match(await page.title(), /dantesync/);

    // The mode, as the page shows it, is the daemon's; locked is green.
    await page.waitForFunction(() => ['LOCK', 'NANO'].includes(document.getElementById('mode').dataset.mode),
      null, { timeout: 45_000 });
    const shown = await page.locator('#mode').textContent();
    const api = await (await fetch(`${base}/api/status`)).json();
    assert.ok(['LOCK', 'NANO'].includes(api.status.mode), `API mode ${api.status.mode}`);
    assert.ok(['LOCK', 'NANO'].includes(shown), `page mode ${shown}`);
    const colour = await page.locator('#mode').evaluate((e) => getComputedStyle(e).backgroundColor);
    assert.equal(colour, 'rgb(46, 204, 113)', 'locked is green');
    assert.match(await page.locator('#leader').textContent(), /^[0-9a-f]{2}(:[0-9a-f]{2}){5}/);
    assert.equal(await page.locator('#ntp').textContent(), 'not used (PTP only)');
    assert.equal(await page.locator('#ntp-sources').textContent(), 'none (PTP only)');

    // The charts: one history point every 2 s, fetched every 4 s.
    await page.waitForFunction(() => Number(document.getElementById('chart-drift').dataset.points) >= 5,
      null, { timeout: 60_000 });
    const plotted = await page.evaluate(() => ({
      drift: Number(document.getElementById('chart-drift').dataset.points),
      applied: Number(document.getElementById('chart-applied').dataset.points),
      state: window.dantesyncPage.plotted,
      held: window.dantesyncPage.points.length,
      lastApplied: window.dantesyncPage.points.at(-1).applied_ppm,
    }));
    assert.ok(plotted.drift >= 5, `drift chart points: ${plotted.drift}`);
    assert.ok(plotted.applied >= plotted.drift, `applied chart points: ${plotted.applied}`);
    assert.equal(plotted.state.drift_ppm, plotted.drift);
    const history = await (await fetch(`${base}/api/history`)).json();
    assert.ok(history.points.length >= plotted.held, `daemon ${history.points.length} vs page ${plotted.held}`);
    // The applied frequency plotted is the servo's answer to the simulated +50 ppm.
    assert.ok(Math.abs(plotted.lastApplied + 50) < 5, `applied ${plotted.lastApplied} ppm`);

    // Whether the node can be trusted as the time daemon right now: PTP fresh, at gm-sim's
    // rate (a Sync and a Follow_Up every 250 ms: 8 datagrams/s over the last 10 s), no kernel
    // status for a simulated clock, no leap second, nobody else stepping or adjusting the clock.
    await page.waitForFunction(() => Number(document.getElementById('ptp-packets').dataset.perS) >= 7.5,
      null, { timeout: 20_000 });
    const trust = await page.evaluate(() => {
      const d = (id) => document.getElementById(id);
      return {
        ptp: d('ptp-packets').textContent,
        ageS: Number(d('ptp-packets').dataset.ageS),
        perS: Number(d('ptp-packets').dataset.perS),
        kernel: d('kernel-sync').dataset.state,
        kernelText: d('kernel-sync').textContent,
        leap: d('leap').dataset.leap,
        leapText: d('leap').textContent,
        steps: d('clock-events').dataset.externalSteps,
        interference: d('clock-events').dataset.interference,
        events: d('clock-events').textContent,
        syncState: d('sync-mode').dataset.state,
        syncText: d('sync-mode').textContent,
      };
    });
    assert.ok(trust.ageS > 0 && trust.ageS < 1.0, `last PTP datagram ${trust.ageS} s ago`);
    assert.ok(trust.perS >= 7.5 && trust.perS <= 8.5, `${trust.perS} PTP datagrams/s`);
    assert.match(trust.ptp, /^last \d+\.\d s ago, \d+\.\d per second over the last 10 s$/);
    assert.equal(trust.kernel, 'none');
    assert.equal(trust.kernelText, 'no such status (simulated clock, or Windows)');
    assert.equal(trust.leap, 'none');
    assert.equal(trust.leapText, 'none announced');
    assert.equal(trust.steps, '0');
    assert.equal(trust.interference, '0');
    assert.equal(trust.events, '0 steps by someone else, 0 changes by another program');
    // This node runs classic mode: the row says so (fleet mode shows its state, D, path delay
    // and phase error there).
    assert.equal(trust.syncState, 'off');
    assert.equal(trust.syncText, 'classic (NTP sets the time)');
    // The same as the daemon's JSON says.
    const now = await (await fetch(`${base}/api/status`)).json();
    assert.equal(now.node.kernel_synchronised, null);
    assert.equal(now.node.leap_pending, 'none');
    assert.equal(now.status.external_steps, 0);
    assert.equal(now.counters.clock_interference, 0);
    assert.ok(Math.abs(now.status.ptp_packets_per_s - trust.perS) <= 0.5,
      `API ${now.status.ptp_packets_per_s} vs page ${trust.perS}`);

    fs.mkdirSync(path.dirname(SHOT), { recursive: true });
    await page.screenshot({ path: SHOT, fullPage: true });
    console.log(`screenshot: ${SHOT} (${plotted.drift} drift points)`);

    // The daemon gone: the page says so, in red.
    await daemon.stop();
    await page.waitForFunction(() => document.getElementById('mode').dataset.mode === 'OFFLINE',
      null, { timeout: 10_000 });
    const red = await page.locator('#mode').evaluate((e) => getComputedStyle(e).backgroundColor);
    assert.equal(red, 'rgb(231, 76, 60)', 'offline is red');

    const real = problems.filter((p) => !(p.startsWith('console:') && /Failed to (load|fetch)|ERR_CONNECTION_REFUSED/.test(p)));
    assert.deepEqual(real, [], 'no script errors, nothing fetched from elsewhere');
  } finally {
    for (const c of cleanups) {
      try { await c(); } catch { /* best effort: the rest still runs */ }
    }
  }
});
