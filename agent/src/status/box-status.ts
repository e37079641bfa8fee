/**
 * What the box is doing and, until it is registered, why it is stuck, for the person next to it: a
 * small page and its JSON under RUN_DIRECTORY/status/, which nginx serves on the LAN at
 * http://<box>:BOX_HTTP_PORT/status/. The same code and text go to the entrance with each EXCHANGE
 * (STATUS), so the dashboard shows it once the box is registered. Files are rewritten only when the
 * status changes, to spare the SD card.
 */
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../../shared/src/fs-atomic.js';
import type { Logger } from '../../../shared/src/log.js';
import { EARLIEST_PLAUSIBLE_MS } from '../../../shared/src/plausible-time.js';

export type StatusCode =
  | 'starting'
  | 'no-network' // no interface has an address: cable, Wi-Fi or DHCP
  | 'no-time' // the clock is before this software was built and no entrance has told the time yet
  | 'entrance-unreachable'
  | 'not-enrolled' // the entrance requires enrolment and the config has no ENROLMENT_TOKEN
  | 'token-refused'
  | 'revoked'
  | 'ports-unreachable' // registered, but the entrance cannot reach the viewer port from outside
  | 'registered';


export interface StatusSnapshot {
  ID: string;
  STATUS: StatusCode;
  DETAIL: string;
  SINCE: string;
  CLOCK: string;
  ADDRESSES: string[];
}

export class BoxStatus {
  private code: StatusCode = 'starting';
  private detail = 'the agent is starting';
  private since = Date.now();
  private writing: Promise<void> = Promise.resolve();

  constructor(
    private readonly boxId: string,
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  get current(): { code: StatusCode; detail: string } {
    return { code: this.code, detail: this.detail };
  }

  /**
   * Record a problem reaching an entrance, named by its most basic cause: no address at all, then a
   * clock that cannot be right, then the entrance itself.
   */
  unreachable(detail: string): void {
    if (addresses().length === 0) return this.set('no-network', 'no network address: check the cable or the Wi-Fi settings, and that the router hands out addresses (DHCP)');
    if (Date.now() < EARLIEST_PLAUSIBLE_MS) return this.set('no-time', `the clock says ${new Date().toISOString()}; waiting for NTP or the entrance's time`);
    this.set('entrance-unreachable', detail);
  }

  set(code: StatusCode, detail: string): void {
    if (code === this.code && detail === this.detail) return;
    this.change(code, detail);
  }

  /** Write the current status even though it has not changed (at start: the page must exist). */
  publish(): void {
    this.change(this.code, this.detail);
  }

  private change(code: StatusCode, detail: string): void {
    if (code !== this.code) this.log.info({ status: code, detail }, 'box status changed');
    this.code = code;
    this.detail = detail;
    this.since = Date.now();
    const snapshot = this.snapshot();
    this.writing = this.writing
      .then(() => this.write(snapshot))
      .catch((err: unknown) => this.log.warn({ err: (err as Error).message }, 'status page not written'));
  }

  snapshot(): StatusSnapshot {
    return { ID: this.boxId, STATUS: this.code, DETAIL: this.detail, SINCE: new Date(this.since).toISOString(), CLOCK: new Date().toISOString(), ADDRESSES: addresses() };
  }

  /** Resolves when the last change is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }

  private async write(s: StatusSnapshot): Promise<void> {
    await writeFileAtomic(path.join(this.dir, 'status.json'), `${JSON.stringify(s, null, 2)}\n`);
    await writeFileAtomic(path.join(this.dir, 'index.html'), page(s));
  }
}

function addresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal)
    .map((a) => (a as os.NetworkInterfaceInfo).address);
}

const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

function page(s: StatusSnapshot): string {
  const ok = s.STATUS === 'registered';
  const rows: Array<[string, string]> = [
    ['Box', s.ID],
    ['Status', s.STATUS],
    ['Detail', s.DETAIL],
    ['Since', s.SINCE],
    ['Box clock (when written)', s.CLOCK],
    ['Addresses', s.ADDRESSES.join(', ') || 'none'],
  ];
  return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="10"><title>Dandelion box: ${escapeHtml(s.STATUS)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:50em}th{text-align:left;padding-right:1em}.s{font-size:1.4em;color:${ok ? '#16794a' : '#a33'}}</style></head>
<body><h1>Dandelion box</h1><p class="s">${ok ? 'Registered and serving.' : 'Not registered yet.'}</p><table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
<p>This page refreshes every 10 seconds. Its data: <a href="status.json">status.json</a>.</p></body></html>
`;
}
