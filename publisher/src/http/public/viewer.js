// The viewer page's player, an ES module run after hls.min.js: plays ?src=<path>.m3u8 through /hls/, so
// segments come from boxes, and lists which server delivered each segment. When a box fails a segment
// (an error, or no first byte within 1.5 s), it asks /r/<path>?exclude=<that box> for another copy
// (another box, else the origin), so playback goes on within 2 s. Every segment a box served is checked
// against the publisher's SHA-256 (/hashes/<playlist>) before the player gets it: a box owner has root
// on the box and could serve anything. A copy that does not match is never played: it is fetched again
// elsewhere the same way, and the box is reported (POST /report) so the publisher audits it.
// window.dandelion holds what was served, rejected and reported, and every error, for the end-to-end
// tests and for anyone debugging in the console.

/* global Hls */
import { sha256Hex } from './sha256.js';

// The page names its publisher on <body data-publisher-id>, so this file is the same for every publisher.
const marker = '/' + document.body.dataset.publisherId + '/';
const statusEl = document.getElementById('status');
const served = [];
// A page over plain http on a public address is not a secure context: browsers give it no crypto.subtle.
const subtle = window.crypto && window.crypto.subtle;
window.dandelion = { served: served, errors: [], rejected: [], reports: [], hasher: subtle ? 'webcrypto' : 'sha256.js' };

/** The watched-folder path a segment URL names (percent-encoded): a box URL is <box>/<publisher-id>/<path>, the origin's /origin/<path>. */
function pathOf(url) {
  const u = new URL(url, location.href);
  const i = u.pathname.indexOf(marker);
  if (i >= 0) return u.pathname.slice(i + marker.length);
  if (u.pathname.indexOf('/origin/') === 0) return u.pathname.slice(8);
  return null;
}

/** The file's name as the publisher knows it (each name decoded), or null when it does not decode. */
function filePathOf(encoded) {
  try {
    return encoded.split('/').map(decodeURIComponent).join('/');
  } catch (e) {
    return null;
  }
}

function serverOf(url) {
  const u = new URL(url, location.href);
  return u.pathname.indexOf('/origin/') === 0 && u.host === location.host ? 'origin' : u.host;
}

/** One row of the "served by" table, newest first, at most 30. */
function showServed(row) {
  const tr = document.createElement('tr');
  tr.innerHTML = '<td></td><td class="' + (row.server === 'origin' ? 'origin' : 'box') + '"></td><td></td><td></td>';
  tr.children[0].textContent = row.path;
  tr.children[1].textContent = row.server + (row.retried ? ' (retry)' : '');
  tr.children[2].textContent = row.bytes;
  tr.children[3].textContent = row.ms;
  const body = document.getElementById('served');
  body.insertBefore(tr, body.firstChild);
  while (body.children.length > 30) body.removeChild(body.lastChild);
}

// The publisher's SHA-256 of each file, from /hashes/<playlist>; the oldest are forgotten past MAX_HASHES.
const MAX_HASHES = 2000;
const hashes = new Map();
const hashLists = new Map(); // playlist path → the /hashes/ request in flight

/** The /hashes/ address for the media playlist a fragment came from (its /hls/ URL), or null. */
function hashListOf(playlistUrl) {
  const u = new URL(playlistUrl || '', location.href);
  return u.host === location.host && u.pathname.indexOf('/hls/') === 0 ? '/hashes/' + u.pathname.slice(5) : null;
}

/** The expected SHA-256 of `file`, asking the publisher for its playlist's list when it is not known yet. */
function expectedHash(file, playlistUrl) {
  if (hashes.has(file)) return Promise.resolve(hashes.get(file));
  const list = hashListOf(playlistUrl);
  if (list === null) return Promise.resolve(undefined);
  if (!hashLists.has(list)) {
    hashLists.set(list, fetch(list, { cache: 'no-store' })
      .then(function (res) { return res.ok ? res.json() : { SHA256: {} }; })
      .then(function (body) {
        for (const [path, sha] of Object.entries(body.SHA256 || {})) hashes.set(path, sha);
        while (hashes.size > MAX_HASHES) hashes.delete(hashes.keys().next().value);
      })
      .catch(function () { /* intentional: unknown hashes fail the check below, so the copy comes from elsewhere */ })
      .finally(function () { hashLists.delete(list); }));
  }
  return hashLists.get(list).then(function () { return hashes.get(file); });
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), function (b) { return b.toString(16).padStart(2, '0'); }).join('');
}

/** SHA-256 with WebCrypto where the page is a secure context (https, localhost), else sha256.js. */
function digest(data) {
  if (subtle) return subtle.digest('SHA-256', data).then(hex, function () { return sha256Hex(data); });
  return Promise.resolve(sha256Hex(data));
}

/**
 * Whether `data` is the publisher's file: {ok, expected, got}. A cached hash that does not match is
 * asked for once more (a stream restarted under the same file names), so only a fresh answer condemns a box.
 */
function verify(file, playlistUrl, data) {
  return Promise.all([expectedHash(file, playlistUrl), digest(data)]).then(function (both) {
    const got = both[1];
    if (both[0] === got || both[0] === undefined) return { ok: both[0] === got, expected: both[0], got: got };
    hashes.delete(file);
    return expectedHash(file, playlistUrl).then(function (expected) { return { ok: expected === got, expected: expected, got: got }; });
  });
}

/** Tell the publisher which box copy did not match; it audits that box itself. */
function report(file, url) {
  const entry = { path: file, url: url, status: null };
  window.dandelion.reports.push(entry);
  fetch('/report', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ PATH: file, URL: url }) })
    .then(function (res) { entry.status = res.status; }, function (err) { entry.status = String(err && err.name); });
}

/**
 * hls.js's fragment loader. A segment a box served reaches the player only once its SHA-256 matches;
 * a box that fails it (error, timeout, other bytes) is left out of one retry via /r/ … ?exclude=, and
 * a second copy that does not match either is taken from the origin.
 */
function failoverLoader(Base) {
  function FailoverLoader(config) { Base.call(this, config); }
  FailoverLoader.prototype = Object.create(Base.prototype);
  FailoverLoader.prototype.constructor = FailoverLoader;
  FailoverLoader.prototype.load = function (context, config, callbacks) {
    const self = this;
    const first = context.url;
    const encoded = pathOf(first);
    const file = encoded === null ? null : filePathOf(encoded);
    const playlistUrl = context.frag && context.frag.baseurl;
    let attempts = 0;
    const wrapped = {
      onSuccess: function (response, stats, ctx, net) {
        const finalUrl = response.url || ctx.url;
        const server = serverOf(finalUrl);
        const deliver = function () {
          const row = { path: encoded, server: server, url: finalUrl, bytes: stats.loaded, ms: Math.round(stats.loading.end - stats.loading.start), retried: attempts > 0 };
          served.push(row);
          showServed(row);
          callbacks.onSuccess(response, stats, ctx, net);
        };
        if (server === 'origin' || file === null || !(response.data instanceof ArrayBuffer)) return deliver();
        verify(file, playlistUrl, response.data).then(function (checked) {
          if (self.cancelled) return;
          if (checked.ok) return deliver();
          window.dandelion.rejected.push({ path: file, server: server, url: finalUrl, expected: checked.expected || null, got: checked.got });
          if (checked.expected !== undefined) report(file, finalUrl);
          retry('mismatch', finalUrl, function () { callbacks.onError({ code: 0, text: 'no copy matched the publisher\'s SHA-256' }, ctx, net, stats); });
        });
      },
      onError: function (error, ctx, net, stats) { retry('error ' + (error && error.code), first, function () { callbacks.onError(error, ctx, net, stats); }); },
      onTimeout: function (stats, ctx, net) { retry('timeout', first, function () { callbacks.onTimeout(stats, ctx, net); }); },
      onProgress: callbacks.onProgress,
    };
    /** Load again from elsewhere: first another box via /r/, then (a second copy that did not match) the origin. */
    function retry(why, failedUrl, giveUp) {
      const mismatch = why === 'mismatch';
      if (encoded === null || self.cancelled || attempts >= (mismatch ? 2 : 1)) return giveUp();
      attempts += 1;
      window.dandelion.errors.push({ path: encoded, server: serverOf(failedUrl), why: why });
      context.url = attempts === 1 ? '/r/' + encoded + '?exclude=' + encodeURIComponent(new URL(failedUrl, location.href).host) : '/origin/' + encoded;
      // A loader refuses a second load once its stats say it started; hls.js holds this same object as the fragment's stats.
      self.stats.loading = { start: 0, first: 0, end: 0 };
      self.stats.loaded = 0;
      self.stats.aborted = false;
      Base.prototype.load.call(self, context, config, wrapped);
    }
    Base.prototype.load.call(this, context, config, wrapped);
  };
  // A segment still being checked when hls.js gives up on it must not reach the player afterwards.
  FailoverLoader.prototype.abort = function () { this.cancelled = true; Base.prototype.abort.call(this); };
  FailoverLoader.prototype.destroy = function () { this.cancelled = true; Base.prototype.destroy.call(this); };
  return FailoverLoader;
}

function play(src) {
  const hls = new Hls({
    fLoader: failoverLoader(Hls.DefaultConfig.loader),
    fragLoadPolicy: { default: { maxTimeToFirstByteMs: 1500, maxLoadTimeMs: 10000,
      timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
      errorRetry: { maxNumRetry: 3, retryDelayMs: 200, maxRetryDelayMs: 1000 } } },
  });
  const video = document.getElementById('video');
  const playlist = '/hls/' + src.replace(/^\/+/, '');
  hls.on(Hls.Events.ERROR, function (_e, data) {
    window.dandelion.errors.push({ at: Math.round(performance.now()), type: data.type, details: data.details, fatal: data.fatal });
    if (!data.fatal) return;
    // A live page stays up: a playlist that failed before it was ever parsed is asked for again (startLoad
    // alone would not), a failed load resumes (a "media sequence mismatch" after a lost box too), and a
    // media error gets hls.js's own recovery.
    if (data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR || data.details === Hls.ErrorDetails.MANIFEST_LOAD_TIMEOUT
      || data.details === Hls.ErrorDetails.MANIFEST_PARSING_ERROR) setTimeout(function () { hls.loadSource(playlist); }, 1000);
    else if (data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
    else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
  });
  hls.on(Hls.Events.MANIFEST_PARSED, function () {
    statusEl.textContent = 'playing ' + src;
    // The autoplay attribute waits for enough data and may be refused silently; asking once says why.
    video.play().catch(function (err) { window.dandelion.errors.push({ type: 'play', details: String(err && err.name) }); });
  });
  hls.loadSource(playlist);
  hls.attachMedia(video);
  window.dandelion.hls = hls;
}

const src = new URLSearchParams(location.search).get('src');
if (!src) statusEl.textContent = 'add ?src=<path>.m3u8 to the address';
else if (!window.Hls || !Hls.isSupported()) statusEl.textContent = 'this browser cannot play HLS with hls.js';
else play(src);
