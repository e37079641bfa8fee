/**
 * What the box is doing and, until it is registered, why it is stuck, for the person next to it: a
 * small page and its JSON under RUN_DIRECTORY/status/, which nginx serves at
 * http://<box>:BOX_HTTP_PORT/status/. The same code and text go to the entrance with each EXCHANGE
 * (STATUS), so the dashboard shows it once the box is registered. Files are rewritten only when the
 * status changes, to spare the SD card.
 *
 * The viewer port is open to the internet, and the box's own addresses (LAN, link-local, ULA) are no
 * stranger's business: two copies are written, lan/ with them and public/ without, and nginx serves
 * each peer the copy its address calls for (LAN_NETWORKS, matched by nginx's geo module).
 */
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../../../shared/src/fs-atomic.js';
import { escapeHtml } from '../../../shared/src/html.js';
import type { Logger } from '../../../shared/src/log.js';
import { messageOf } from '../../../shared/src/protocol/errors.js';
import { EARLIEST_PLAUSIBLE_MS } from '../../../shared/src/plausible-time.js';
import { householdForm, householdRows, publicServing } from '../household/status-section.js';
import type { HouseholdSnapshot } from '../household/status-section.js';

export type StatusCode =
  | 'starting'
  | 'no-network' // no interface has an address: cable, Wi-Fi or DHCP
  | 'no-time' // the clock is before this software was built and no entrance has told the time yet
  | 'entrance-unreachable'
  | 'not-enrolled' // the entrance requires enrolment and the config has no ENROLMENT_TOKEN
  | 'token-refused'
  | 'awaiting-approval' // the ID is enrolled with another key (a re-flashed card): an operator must approve this one
  | 'revoked'
  | 'ports-unreachable' // registered, but the entrance cannot reach the viewer port from outside
  | 'registered';


/**
 * Peers that count as the box's own networks and see its addresses: loopback, the private IPv4 ranges
 * (RFC 1918), link-local, and IPv6 loopback, ULA and link-local. Everyone else is a stranger.
 */
export const LAN_NETWORKS: readonly string[] = [
  '127.0.0.0/8', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16',
  '::1/128', 'fc00::/7', 'fe80::/10',
];

/** The two copies of the status files, as folders of the status directory. */
export const STATUS_VIEWS = { lan: 'lan', public: 'public' } as const;

export interface StatusSnapshot {
  ID: string;
  STATUS: StatusCode;
  DETAIL: string;
  SINCE: string;
  CLOCK: string;
  /** Only in the copy for the box's own networks. */
  ADDRESSES?: string[];
  /** The certificate served on the HTTPS port: its name and when it expires (ISO time). */
  HTTPS?: { NAME: string; NOT_AFTER: string };
  /** What the household should do so viewers reach the box; only in the copy for its own networks (it names the box's LAN address). */
  ADVICE?: string;
  /** The household's settings, the month's upload and the pause; only in the copy for its own networks. */
  HOUSEHOLD?: HouseholdSnapshot;
  /** 'serving' or 'paused' (the public copy's whole say on the household). */
  SERVING?: string;
}

/** Who wrote the advice: the box from its own port mapping, or the entrance from its verdict (which wins). */
export type AdviceSource = 'box' | 'entrance';

export class BoxStatus {
  private code: StatusCode = 'starting';
  private detail = 'the agent is starting';
  private since = Date.now();
  private writing: Promise<void> = Promise.resolve();
  private certificate: StatusSnapshot['HTTPS'];
  private readonly advice: Record<AdviceSource, string> = { box: '', entrance: '' };
  private householdNow: HouseholdSnapshot | undefined;

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

  /** The certificate now served on the HTTPS port (rewrites the page; the status itself is unchanged). */
  certificateServed(name: string, notAfterMs: number): void {
    this.certificate = { NAME: name, NOT_AFTER: new Date(notAfterMs).toISOString() };
    this.publish();
  }

  /** The household's settings and pause now (rewrites the page; the status itself is unchanged). */
  household(snapshot: HouseholdSnapshot): void {
    this.householdNow = snapshot;
    this.publish();
  }

  /** The sentence the status page shows the household ('' for none); the entrance's, when it gave one, wins over the box's. */
  advise(source: AdviceSource, sentence: string): void {
    const before = this.currentAdvice;
    this.advice[source] = sentence;
    if (this.currentAdvice !== before) this.change(this.code, this.detail);
  }

  get currentAdvice(): string {
    return this.advice.entrance || this.advice.box;
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
      .catch((err: unknown) => this.log.warn({ err: messageOf(err) }, 'status page not written'));
  }

  snapshot(): StatusSnapshot {
    const advice = this.currentAdvice;
    const s: StatusSnapshot = { ID: this.boxId, STATUS: this.code, DETAIL: this.detail, SINCE: new Date(this.since).toISOString(), CLOCK: new Date().toISOString(), ADDRESSES: addresses() };
    if (advice) s.ADVICE = advice;
    if (this.certificate) s.HTTPS = this.certificate;
    if (this.householdNow) {
      s.HOUSEHOLD = this.householdNow;
      s.SERVING = publicServing(this.householdNow);
    }
    return s;
  }

  /** Resolves when the last change is on disk. */
  flush(): Promise<void> {
    return this.writing;
  }

  private async write(s: StatusSnapshot): Promise<void> {
    const { ADDRESSES: _hidden, ADVICE: _lanOnly, HOUSEHOLD: _private, ...forStrangers } = s;
    const views: Array<[folder: string, snapshot: Omit<StatusSnapshot, 'ADDRESSES'>]> = [[STATUS_VIEWS.lan, s], [STATUS_VIEWS.public, forStrangers]];
    for (const [view, snapshot] of views) {
      await writeFileAtomic(path.join(this.dir, view, 'status.json'), `${JSON.stringify(snapshot, null, 2)}\n`);
      await writeFileAtomic(path.join(this.dir, view, 'index.html'), page(snapshot));
    }
  }
}

function addresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => a !== undefined && !a.internal)
    .map((a) => a.address);
}

function page(s: StatusSnapshot): string {
  const ok = s.STATUS === 'registered';
  const rows: Array<[string, string]> = [
    ['Box', s.ID],
    ['Status', s.STATUS],
    ...(s.ADVICE ? [['What to do', s.ADVICE] satisfies [string, string]] : []),
    ['Detail', s.DETAIL],
    ['Since', s.SINCE],
    ['Box clock (when written)', s.CLOCK],
    ['Addresses', s.ADDRESSES === undefined ? 'shown on the local network only' : s.ADDRESSES.join(', ') || 'none'],
    ['HTTPS certificate', s.HTTPS ? `${s.HTTPS.NAME}, valid until ${s.HTTPS.NOT_AFTER}` : 'none yet'],
    ...(s.HOUSEHOLD ? householdRows(s.HOUSEHOLD) : s.SERVING ? [['Serving', s.SERVING] satisfies [string, string]] : []),
  ];
  // A page holding the household's form is not refreshed under the household's typing, once the box is registered.
  const refresh = !ok || !s.HOUSEHOLD;
  return `<!doctype html><html><head><meta charset="utf-8">${refresh ? '<meta http-equiv="refresh" content="10">' : ''}<title>Dandelion box: ${escapeHtml(s.STATUS)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:50em}th{text-align:left;padding-right:1em}.s{font-size:1.4em;color:${ok ? '#16794a' : '#a33'}}</style></head>
<body><h1>Dandelion box</h1><p class="s">${!ok ? 'Not registered yet.' : s.SERVING === 'paused' ? 'Registered; paused by the household\'s settings.' : 'Registered and serving.'}</p><table>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>
${s.HOUSEHOLD ? householdForm(s.HOUSEHOLD) : ''}
<p>${refresh ? 'This page refreshes every 10 seconds.' : 'Reload this page to see what changed.'} Its data: <a href="status.json">status.json</a>.</p></body></html>
`;
}
