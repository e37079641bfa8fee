/**
 * The viewer page: a video element and a table of who served each segment. The player is
 * public/viewer.js (served as /static/viewer.js) on hls.js served by the publisher itself (no CDN); the
 * page only tells it which publisher it belongs to, on <body data-publisher-id>.
 */
import { escapeHtml } from '../../../shared/src/html.js';

export function viewerPage(publisherId: string): string {
  const id = escapeHtml(publisherId);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dandelion — ${id}</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5rem; background: #111; color: #eee; }
  video { width: 100%; max-width: 960px; background: #000; display: block; }
  table { border-collapse: collapse; margin-top: 1rem; font-family: ui-monospace, monospace; font-size: 12px; }
  td, th { padding: 2px 10px; text-align: left; border-bottom: 1px solid #333; }
  .origin { color: #f90; } .box { color: #6c6; } #status { margin: .5rem 0; color: #aaa; }
</style></head>
<body data-publisher-id="${id}">
<h1>Dandelion live</h1>
<video id="video" controls muted autoplay playsinline></video>
<div id="status">loading…</div>
<table><thead><tr><th>segment</th><th>served by</th><th>bytes</th><th>ms</th></tr></thead><tbody id="served"></tbody></table>
<script src="/static/hls.min.js"></script>
<script type="module" src="/static/viewer.js"></script>
</body></html>
`;
}
