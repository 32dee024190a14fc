// The live status page: polls the daemon's JSON and draws the last hour on canvases.
// No library, no CDN: this file is served by the daemon itself.
'use strict';

const STATUS_EVERY_MS = 2000;
const HISTORY_EVERY_MS = 4000;
const WINDOW_MS = 3600 * 1000;
const MIN_SPAN_MS = 5 * 60 * 1000;

// What tests and curious people can read: the latest status, the points held, and how many
// points each chart plotted on its last draw.
const state = { status: null, points: [], plotted: {}, statusPolls: 0, historyPolls: 0, error: null };
window.dantesyncPage = state;

const $ = (id) => document.getElementById(id);

function modeClass(mode) {
  switch (mode) {
    case 'LOCK': case 'NANO': return 'mode-locked';
    case 'INIT': case 'ACQ': case 'PROD': return 'mode-acquiring';
    case 'NTP-ONLY': return 'mode-ntp-only';
    default: return 'mode-unknown';
  }
}

function fmt(v, digits, unit) {
  return (v === null || v === undefined || Number.isNaN(v)) ? '–' : `${v.toFixed(digits)} ${unit}`;
}

function duration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  return `${m} min ${Math.floor(s % 60)} s`;
}

function showStatus(doc) {
  const s = doc.status, n = doc.node;
  const mode = $('mode');
  mode.textContent = s.mode;
  mode.dataset.mode = s.mode;
  mode.className = `mode ${modeClass(s.mode)}`;
  $('host').textContent = n.hostname ? `on ${n.hostname}` : '';
  document.title = `${s.mode} · dantesync${n.hostname ? ' · ' + n.hostname : ''}`;
  if (s.leader) {
    const q = s.leader.quality;
    $('leader').textContent = `${s.leader.grandmaster}` +
      (q ? ` (stratum ${q.stratum}${q.preferred ? ', preferred' : ''})` : '');
  } else {
    $('leader').textContent = 'none';
  }
  $('drift').textContent = s.drift_ppm === null ? 'no estimate yet'
    : `${s.drift_ppm.toFixed(3)} ppm ± ${fmt(s.drift_sigma_ppm, 3, 'ppm')}`;
  $('applied').textContent = fmt(s.applied_ppm, 3, 'ppm') +
    (s.slew_ppm !== 0 ? ` (+ slew ${s.slew_ppm.toFixed(3)} ppm)` : '');
  let ntp;
  if (!n.ntp_upstream) {
    ntp = 'not used (PTP only)';
  } else if (!s.ntp) {
    ntp = `${n.ntp_upstream}: no answer yet` + (s.ntp_failing ? ' (failing)' : '');
  } else {
    ntp = `${n.ntp_upstream}: offset ${(s.ntp.offset_ns / 1000).toFixed(1)} µs, ` +
      `delay ${(s.ntp.delay_ns / 1000).toFixed(1)} µs, ${Math.round(s.ntp.at.age_s)} s ago` +
      (s.ntp_failing ? ' — FAILING' : '') + (s.time_synchronised ? '' : ' (time not yet confirmed)');
  }
  if (n.ntp_server_enabled) ntp += '; serving NTP';
  $('ntp').textContent = ntp;
  // Each configured server as the client's selection last saw it.
  const sources = s.ntp_sources || [];
  $('ntp-sources').textContent = sources.length === 0 ? 'none (PTP only)' : sources.map((x) => {
    const last = x.last ? `, ${(x.last.offset_ns / 1000).toFixed(1)} µs` +
      ` (delay ${(x.last.delay_ns / 1000).toFixed(1)} µs, ${x.last.kept} of ${x.last.samples} kept)` : '';
    const retry = x.backoff_s ? `, backing off ${Math.round(x.backoff_s)} s` : '';
    const poll = x.poll_s ? `, polled every ${Math.round(x.poll_s)} s` : '';
    return `${x.name}: ${x.state.replace('_', ' ')}${last}${retry}${poll}`;
  }).join(' · ');
  $('phase').textContent = fmt(s.accumulated_phase_us, 1, 'µs');
  showSyncMode(s);
  showTrust(doc);
  $('timestamping').textContent = n.timestamping;
  $('uptime').textContent = duration(n.uptime_s);
}

// Classic, or fleet mode with its state, D's age, the path delay and the phase error to
// leader + D + path delay (docs/fleet.md).
function showSyncMode(s) {
  const el = $('sync-mode');
  const f = s.fleet || {};
  el.dataset.state = s.fleet_state || '';
  if (s.sync_mode !== 'fleet') {
    el.textContent = 'classic (NTP sets the time)';
    return;
  }
  const pd = s.path_delay || {};
  const parts = [`fleet, ${s.fleet_state}`];
  if (f.epoch !== null && f.epoch !== undefined) {
    parts.push(`D epoch ${f.epoch}` + (f.d_age_s === null || f.d_age_s === undefined
      ? '' : `, heard ${Math.round(f.d_age_s)} s ago`));
  }
  parts.push(pd.delay_ns === null || pd.delay_ns === undefined
    ? `path delay ${pd.state || 'off'} (0 used)`
    : `path delay ${(pd.delay_ns / 1000).toFixed(1)} µs`);
  if (f.phase_error_ns !== null && f.phase_error_ns !== undefined) {
    parts.push(`phase error ${(f.phase_error_ns / 1000).toFixed(1)} µs`);
  }
  parts.push(`${f.steps || 0} step${f.steps === 1 ? '' : 's'}`);
  el.textContent = parts.join(', ');
  el.className = s.fleet_state === 'fallback' || s.fleet_state === 'holding' ? 'warn' : '';
}

// Whether the node can be trusted as the machine's time daemon right now: how fresh its PTP
// is, what the kernel was told, a leap second coming, and anyone else touching the clock.
// The data attributes carry the raw values for tests.
function showTrust(doc) {
  const s = doc.status, n = doc.node, c = doc.counters;
  const ptp = $('ptp-packets');
  const last = s.last_ptp_packet;
  ptp.dataset.ageS = last ? String(last.age_s) : '';
  ptp.dataset.perS = s.ptp_packets_per_s === null ? '' : String(s.ptp_packets_per_s);
  ptp.textContent = !last ? 'none received yet'
    : `last ${last.age_s.toFixed(1)} s ago, ${fmt(s.ptp_packets_per_s, 1, 'per second')} over the last 10 s`;
  const kernel = $('kernel-sync');
  const k = n.kernel_synchronised;
  kernel.dataset.state = k === true ? 'synchronised' : k === false ? 'unsynchronised' : 'none';
  kernel.textContent = k === true ? 'synchronised (STA_UNSYNC clear)'
    : k === false ? 'not synchronised (STA_UNSYNC set)'
      : 'no such status (simulated clock, or Windows)';
  const leap = $('leap');
  leap.dataset.leap = n.leap_pending;
  leap.textContent = n.leap_pending === 'insert' ? 'to insert at the end of this month (23:59:60)'
    : n.leap_pending === 'delete' ? 'to delete at the end of this month'
      : 'none announced';
  const events = $('clock-events');
  events.dataset.externalSteps = String(s.external_steps);
  events.dataset.interference = String(c.clock_interference);
  events.textContent = `${s.external_steps} step${s.external_steps === 1 ? '' : 's'} by someone else, ` +
    `${c.clock_interference} change${c.clock_interference === 1 ? '' : 's'} by another program`;
  events.className = s.external_steps > 0 || c.clock_interference > 0 ? 'warn' : '';
}

function showOffline(why) {
  const mode = $('mode');
  mode.textContent = 'OFFLINE';
  mode.dataset.mode = 'OFFLINE';
  mode.className = 'mode mode-offline';
  const e = $('error');
  e.hidden = false;
  e.textContent = `The daemon does not answer: ${why}`;
}

async function pollStatus() {
  try {
    const r = await fetch('/api/status', { cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    state.status = await r.json();
    state.statusPolls += 1;
    state.error = null;
    $('error').hidden = true;
    showStatus(state.status);
  } catch (e) {
    state.error = String(e);
    showOffline(e.message || e);
  }
}

async function pollHistory() {
  const last = state.points.length ? state.points[state.points.length - 1].t : null;
  try {
    const r = await fetch(last === null ? '/api/history' : `/api/history?since=${last}`, { cache: 'no-store' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const doc = await r.json();
    state.points.push(...doc.points);
    const newest = state.points.length ? state.points[state.points.length - 1].t : 0;
    const from = newest - WINDOW_MS;
    let cut = 0;
    while (cut < state.points.length && state.points[cut].t < from) cut += 1;
    if (cut > 0) state.points.splice(0, cut);
    state.historyPolls += 1;
  } catch (e) {
    state.error = String(e);
  }
  drawAll();
}

// Rounds a span to 1, 2 or 5 × a power of ten, for grid lines.
function niceStep(span, lines) {
  const raw = span / lines;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

function drawChart(canvas, series, colour) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || canvas.width, h = canvas.clientHeight || canvas.height;
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);

  const pts = state.points.filter((p) => p[series] !== null && p[series] !== undefined)
    .map((p) => [p.t, p[series]]);
  // The time axis spans the points held, at least five minutes and at most the hour.
  const newest = state.points.length ? state.points[state.points.length - 1].t : Date.now();
  const oldest = state.points.length ? state.points[0].t : newest;
  const spanMs = Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, newest - oldest));
  const t0 = newest - spanMs;
  const left = 64, right = 24, top = 8, bottom = 22;
  const pw = w - left - right, ph = h - top - bottom;

  let lo = Infinity, hi = -Infinity;
  for (const [, v] of pts) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (!pts.length) { lo = -1; hi = 1; }
  const pad = Math.max((hi - lo) * 0.1, 1e-3);
  lo -= pad; hi += pad;
  const x = (t) => left + ((t - t0) / spanMs) * pw;
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * ph;

  ctx.font = '11px system-ui, sans-serif';
  ctx.strokeStyle = '#2c3036';
  ctx.fillStyle = '#9aa0a6';
  ctx.lineWidth = 1;
  const step = niceStep(hi - lo, 4);
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) {
    ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(w - right, y(v)); ctx.stroke();
    if (y(v) > top + ph - 8) continue; // would sit on the time labels
    ctx.fillText(Math.abs(v) < step / 1e6 ? '0' : String(Number(v.toPrecision(3))), left - 4, y(v));
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const spanMin = spanMs / 60000;
  const stepMin = spanMin <= 5 ? 1 : spanMin <= 15 ? 2 : spanMin <= 30 ? 5 : 10;
  for (let m = Math.floor(spanMin / stepMin) * stepMin; m >= 0; m -= stepMin) {
    const xm = x(newest - m * 60000);
    ctx.beginPath(); ctx.moveTo(xm, top); ctx.lineTo(xm, top + ph); ctx.stroke();
    ctx.fillText(m === 0 ? 'now' : `−${m} min`, xm, top + ph + 4);
  }

  ctx.strokeStyle = colour;
  ctx.fillStyle = colour;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  pts.forEach(([t, v], i) => (i === 0 ? ctx.moveTo(x(t), y(v)) : ctx.lineTo(x(t), y(v))));
  ctx.stroke();
  if (pts.length < 120) {
    for (const [t, v] of pts) { ctx.beginPath(); ctx.arc(x(t), y(v), 2, 0, 2 * Math.PI); ctx.fill(); }
  }
  canvas.dataset.points = String(pts.length);
  state.plotted[series] = pts.length;
}

function drawAll() {
  drawChart($('chart-drift'), 'drift_ppm', '#6cb6ff');
  drawChart($('chart-applied'), 'applied_ppm', '#2ecc71');
  drawChart($('chart-ntp'), 'ntp_offset_us', '#ff8c1a');
}

function start() {
  pollStatus();
  pollHistory();
  setInterval(pollStatus, STATUS_EVERY_MS);
  setInterval(pollHistory, HISTORY_EVERY_MS);
  window.addEventListener('resize', drawAll);
}

document.addEventListener('DOMContentLoaded', start);
