/**
 * A simulated box for fault tests that need load without an nginx per box: enrolled with a fleet token, it
 * opens a signed socket to one entrance and beats EXCHANGE every period (jittered ±10 %, as an agent), each
 * beat carrying one new traffic aggregate (1 request, 1000 bytes) for `publisherId` plus every aggregate not
 * yet ACCEPTED, as an agent's outbox does (agent/src/traffic/outbox.ts): an ERROR, no reply or a lost socket
 * keeps them for the next beat. So what the entrance counted must equal `made` exactly, once `flush` ends.
 */
import { PeerCredentials } from '../../shared/src/enrolment/peer-credentials.js';
import { ask, newKey, upgrade } from '../helpers/enrolment.js';
import type { Upgrade } from '../helpers/enrolment.js';
import { boxExchange } from '../helpers/messages.js';

export const AGGREGATE_BYTES = 1000;
/** No reply in this long: the socket is given up and opened again (the agent's bound is two periods + 5 s). */
const REPLY_TIMEOUT_MS = 7_000;
const RECONNECT_MS = 300;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class BeatingBox {
  /** Aggregates made so far; each must be counted once. */
  made = 0;
  /** Beats answered ACCEPTED, and when the last one was. */
  accepted = 0;
  lastAcceptedAt = 0;
  /** Round trips (ms) of the latest ACCEPTED beats, newest last (at most 20). */
  readonly roundTrips: number[] = [];
  /** Socket upgrades that succeeded (a signed upgrade checks the box's enrolment). */
  upgrades = 0;
  private readonly pending = new Map<string, Record<string, unknown>>();
  private socket: Upgrade | undefined;
  private making = true;
  private stopped = false;
  private loop: Promise<void> | undefined;
  readonly credentials: PeerCredentials;

  constructor(
    readonly id: string,
    private readonly url: string,
    token: string,
    private readonly publisherId: string,
    private readonly periodMs: number,
  ) {
    this.credentials = new PeerCredentials(id, newKey(), token);
  }

  async enrol(): Promise<void> {
    const result = await this.credentials.enrol(this.url);
    if (!result.ok) throw new Error(`${this.id} could not enrol: ${result.code} ${result.reason}`);
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Close the socket: the next beat opens a new one with a signed upgrade. */
  reconnect(): void {
    if (this.socket?.ok) this.socket.ws.terminate();
    this.socket = undefined;
  }

  /** Stop making aggregates; resolves once every one made has been ACCEPTED (false: not within `timeoutMs`). */
  async flush(timeoutMs: number): Promise<boolean> {
    this.making = false;
    const deadline = Date.now() + timeoutMs;
    while (this.pending.size > 0 && Date.now() < deadline) await sleep(100);
    return this.pending.size === 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.reconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    // Phases spread over the period, as many boxes' are.
    await sleep(Math.random() * this.periodMs);
    while (!this.stopped) {
      const due = Date.now() + this.periodMs * (0.9 + Math.random() * 0.2);
      await this.beat();
      await sleep(Math.max(0, due - Date.now()));
    }
  }

  private async open(): Promise<Upgrade | undefined> {
    try {
      const headers = await this.credentials.upgradeHeaders(this.url);
      const socket = await upgrade(this.url, headers ?? {});
      if (!socket.ok) return undefined;
      this.upgrades += 1;
      return socket;
    } catch {
      return undefined;
    }
  }

  private async beat(): Promise<void> {
    this.socket ??= await this.open();
    const socket = this.socket;
    if (socket === undefined || !socket.ok) {
      await sleep(RECONNECT_MS);
      return;
    }
    if (this.making) {
      const now = Date.now() / 1000;
      const id = `agg-${this.id}-${this.made}`;
      this.pending.set(id, { ID: id, PUBLISHER: this.publisherId, FILE: 'live/seg.ts', REQUESTS: 1, BYTES: AGGREGATE_BYTES, FROM: now - 1, TO: now });
      this.made += 1;
    }
    const sent = [...this.pending.keys()];
    const message = boxExchange(this.id, {
      // Nothing listens on port 1: a publisher never reaches a simulated box.
      PORT: 1,
      CONNECT_WS: `ws://127.0.0.1:1/dandelion/${this.id}/ws/`,
      'BANDWIDTH-UP': 100,
      'BANDWIDTH-IDLE-UP': 1,
      TRAFFIC_AGGREGATES: [...this.pending.values()],
    });
    const sentAt = Date.now();
    const reply = await Promise.race([ask(socket, message).catch(() => undefined), sleep(REPLY_TIMEOUT_MS).then(() => undefined), socket.closed.then(() => undefined)]);
    if (reply === undefined) {
      // A reply that comes later must not be taken for the next beat's: a new socket.
      this.reconnect();
      return;
    }
    if (reply.MESSAGE !== 'ACCEPTED') return;
    for (const id of sent) this.pending.delete(id);
    this.accepted += 1;
    this.lastAcceptedAt = Date.now();
    this.roundTrips.push(this.lastAcceptedAt - sentAt);
    if (this.roundTrips.length > 20) this.roundTrips.shift();
  }
}
