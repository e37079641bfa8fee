// The viewer page's player, an ES module run after hls.min.js: plays ?src=<path>.m3u8 through /hls/, so
// segments come from boxes, and lists which server delivered each segment. When a box fails a segment
// (an error, or no first byte within 1.5 s), it asks /r/<path>?exclude=<that box> for another copy
// (another box, else the origin), so playback goes on within 2 s. window.dandelion holds what was
// served and every error, for the end-to-end test and for anyone debugging in the console.

/* global Hls */

// The page names its publisher on <body data-publisher-id>, so this file is the same for every publisher.
const marker = '/' + document.body.dataset.publisherId + '/';
const statusEl = document.getElementById('status');
const served = [];
window.dandelion = { served: served, errors: [] };

/** The watched-folder path a segment URL names: a box URL is <box>/<publisher-id>/<path>, the origin's /origin/<path>. */
function pathOf(url) {
  const u = new URL(url, location.href);
  const i = u.pathname.indexOf(marker);
  if (i >= 0) return u.pathname.slice(i + marker.length);
  if (u.pathname.indexOf('/origin/') === 0) return u.pathname.slice(8);
  return null;
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

/** hls.js's fragment loader, retried once elsewhere (/r/ … ?exclude=) when a box fails a segment. */
function failoverLoader(Base) {
  function FailoverLoader(config) { Base.call(this, config); }
  FailoverLoader.prototype = Object.create(Base.prototype);
  FailoverLoader.prototype.constructor = FailoverLoader;
  FailoverLoader.prototype.load = function (context, config, callbacks) {
    const self = this;
    const first = context.url;
    let retried = false;
    const wrapped = {
      onSuccess: function (response, stats, ctx, net) {
        const finalUrl = response.url || ctx.url;
        const row = { path: pathOf(first), server: serverOf(finalUrl), url: finalUrl, bytes: stats.loaded, ms: Math.round(stats.loading.end - stats.loading.start), retried: retried };
        served.push(row);
        showServed(row);
        callbacks.onSuccess(response, stats, ctx, net);
      },
      onError: function (error, ctx, net, stats) { retry('error ' + (error && error.code), function () { callbacks.onError(error, ctx, net, stats); }); },
      onTimeout: function (stats, ctx, net) { retry('timeout', function () { callbacks.onTimeout(stats, ctx, net); }); },
      onProgress: callbacks.onProgress,
    };
    function retry(why, giveUp) {
      const p = pathOf(first);
      if (retried || p === null) return giveUp();
      retried = true;
      window.dandelion.errors.push({ path: p, server: serverOf(first), why: why });
      context.url = '/r/' + p + '?exclude=' + encodeURIComponent(new URL(first, location.href).host);
      Base.prototype.load.call(self, context, config, wrapped);
    }
    Base.prototype.load.call(this, context, config, wrapped);
  };
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
