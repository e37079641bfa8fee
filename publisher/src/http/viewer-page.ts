/**
 * The viewer page: plays `?src=<path>.m3u8` (through /hls/, so segments come from boxes) with hls.js
 * served by the publisher itself (no CDN), and lists which server delivered each segment. When a box
 * fails a segment (error, or no first byte within 1.5 s), the page asks /r/<path>?exclude=<that box>
 * for another copy (another box, else the origin), so playback goes on within 2 s.
 */
import { escapeHtml } from '../../../shared/src/html.js';

export function viewerPage(publisherId: string): string {
  const config = JSON.stringify({ publisherId }).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dandelion — ${escapeHtml(publisherId)}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; background: #111; color: #eee; }
  video { width: 100%; max-width: 960px; background: #000; display: block; }
  table { border-collapse: collapse; margin-top: 1rem; font-family: ui-monospace, monospace; font-size: 12px; }
  td, th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #333; }
  .origin { color: #f90; } .box { color: #6c6; } #status { margin: .5rem 0; color: #aaa; }
</style></head>
<body>
<h1>Dandelion live</h1>
<video id="video" controls muted autoplay playsinline></video>
<div id="status">loading…</div>
<table><thead><tr><th>segment</th><th>served by</th><th>bytes</th><th>ms</th></tr></thead><tbody id="served"></tbody></table>
<script src="/static/hls.min.js"></script>
<script>
(function () {
  var cfg = ${config};
  var params = new URLSearchParams(location.search);
  var src = params.get('src');
  var statusEl = document.getElementById('status');
  var served = [];
  window.dandelion = { served: served, errors: [] };
  if (!src) { statusEl.textContent = 'add ?src=<path>.m3u8 to the address'; return; }
  if (!window.Hls || !Hls.isSupported()) { statusEl.textContent = 'this browser cannot play HLS with hls.js'; return; }

  var marker = '/' + cfg.publisherId + '/';
  // A box URL is <box>/<publisher-id>/<path>; the origin's is /origin/<path>.
  function pathOf(url) {
    var u = new URL(url, location.href);
    var i = u.pathname.indexOf(marker);
    if (i >= 0) return u.pathname.slice(i + marker.length);
    if (u.pathname.indexOf('/origin/') === 0) return u.pathname.slice(8);
    return null;
  }
  function serverOf(url) {
    var u = new URL(url, location.href);
    return u.pathname.indexOf('/origin/') === 0 && u.host === location.host ? 'origin' : u.host;
  }

  var Base = Hls.DefaultConfig.loader;
  function FailoverLoader(config) { Base.call(this, config); }
  FailoverLoader.prototype = Object.create(Base.prototype);
  FailoverLoader.prototype.constructor = FailoverLoader;
  FailoverLoader.prototype.load = function (context, config, callbacks) {
    var self = this;
    var first = context.url;
    var retried = false;
    var wrapped = {
      onSuccess: function (response, stats, ctx, net) {
        var finalUrl = response.url || ctx.url;
        var row = { path: pathOf(first), server: serverOf(finalUrl), url: finalUrl, bytes: stats.loaded, ms: Math.round(stats.loading.end - stats.loading.start), retried: retried };
        served.push(row);
        var tr = document.createElement('tr');
        tr.innerHTML = '<td></td><td class="' + (row.server === 'origin' ? 'origin' : 'box') + '"></td><td></td><td></td>';
        tr.children[0].textContent = row.path; tr.children[1].textContent = row.server + (retried ? ' (retry)' : '');
        tr.children[2].textContent = row.bytes; tr.children[3].textContent = row.ms;
        var body = document.getElementById('served'); body.insertBefore(tr, body.firstChild);
        while (body.children.length > 30) body.removeChild(body.lastChild);
        callbacks.onSuccess(response, stats, ctx, net);
      },
      onError: function (error, ctx, net, stats) { retry('error ' + (error && error.code), function () { callbacks.onError(error, ctx, net, stats); }); },
      onTimeout: function (stats, ctx, net) { retry('timeout', function () { callbacks.onTimeout(stats, ctx, net); }); },
      onProgress: callbacks.onProgress
    };
    function retry(why, giveUp) {
      var p = pathOf(first);
      if (retried || p === null) return giveUp();
      retried = true;
      window.dandelion.errors.push({ path: p, server: serverOf(first), why: why });
      var alt = '/r/' + p + '?exclude=' + encodeURIComponent(new URL(first, location.href).host);
      context.url = alt;
      Base.prototype.load.call(self, context, config, wrapped);
    }
    Base.prototype.load.call(this, context, config, wrapped);
  };

  var hls = new Hls({
    fLoader: FailoverLoader,
    fragLoadPolicy: { default: { maxTimeToFirstByteMs: 1500, maxLoadTimeMs: 10000,
      timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
      errorRetry: { maxNumRetry: 3, retryDelayMs: 200, maxRetryDelayMs: 1000 } } }
  });
  hls.on(Hls.Events.ERROR, function (_e, data) {
    window.dandelion.errors.push({ type: data.type, details: data.details, fatal: data.fatal });
    if (data.fatal && data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
    else if (data.fatal && data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
  });
  hls.on(Hls.Events.MANIFEST_PARSED, function () { statusEl.textContent = 'playing ' + src; });
  hls.loadSource('/hls/' + src.replace(/^\\/+/, ''));
  hls.attachMedia(document.getElementById('video'));
  window.dandelion.hls = hls;
})();
</script>
</body></html>
`;
}
