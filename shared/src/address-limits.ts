/**
 * Per-address limits at the WebSocket upgrade: how many sockets one address may hold open, and how many
 * handshakes a second it may start (a token bucket holding one second's worth, so a burst that size
 * passes and then the rate holds). A refusal is answered here, before ws sees the request, through
 * http-guard's refuseUpgrade: 429 (or 503 when the process's byte budget is spent) with a JSON body
 * {ERROR, ERROR_CODE} and, for E_RATE, Retry-After; other addresses are not affected.
 *
 * A household's boxes, or an office's publishers, share one address behind their NAT, so the defaults
 * are generous; an IPv6 address counts by its /64, which one host usually holds whole. The table of
 * addresses is bounded: an address with no socket open is forgotten, oldest first, when the table is
 * full (it then starts again with a full bucket, which is the most a flood from many addresses can win).
 */
import type { Duplex } from 'node:stream';
import { refuseUpgrade } from './http-guard.js';
import { clientBlockOf, normaliseIp } from './peer-address.js';

export interface AddressLimitsOptions {
  /** Most sockets one address may have open at once. */
  socketsPerAddress: number;
  /** Most WebSocket handshakes one address may start in a second (refused ones count too). */
  handshakesPerSecond: number;
  /** When it returns true every new socket is refused with 503 E_BUSY (the process holds all it may). */
  busy?: () => boolean;
  /** Called with the ERROR_CODE of each refusal (metrics). */
  onRefused?: (code: string) => void;
  /** Addresses remembered at most (besides those with a socket open). Default 10,000. */
  maxAddresses?: number;
  now?: () => number;
}

interface Entry {
  sockets: number;
  /** Handshakes the address may start now; refills at handshakesPerSecond, up to that many. */
  tokens: number;
  at: number;
}

const DEFAULT_MAX_ADDRESSES = 10_000;
/** Longer "addresses" (a proxy's header is text) are cut, so the table's memory is bounded too. */
const MAX_KEY_CHARS = 64;

export class AddressLimits {
  private readonly table = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxAddresses: number;

  constructor(private readonly opts: AddressLimitsOptions) {
    this.now = opts.now ?? Date.now;
    this.maxAddresses = opts.maxAddresses ?? DEFAULT_MAX_ADDRESSES;
  }

  /** Addresses remembered now. */
  get size(): number {
    return this.table.size;
  }

  /**
   * Admit one upgrade from `address` on `socket`, counting the socket until it closes; or answer the
   * refusal on `socket` and return false.
   */
  admit(address: string, socket: Duplex): boolean {
    const key = addressKey(address);
    const rate = this.opts.handshakesPerSecond;
    const now = this.now();
    let entry = this.table.get(key);
    if (entry === undefined) {
      this.makeRoom();
      entry = { sockets: 0, tokens: rate, at: now };
    }
    // Re-inserted, so the table's order is least recently seen first.
    this.table.delete(key);
    this.table.set(key, entry);
    entry.tokens = Math.min(rate, entry.tokens + ((now - entry.at) / 1000) * rate);
    entry.at = now;
    if (entry.tokens < 1) {
      const wait = Math.ceil((1 - entry.tokens) / rate);
      return this.refuse(socket, 429, 'E_RATE', `more than ${rate} WebSocket handshakes a second from your address; slow down`, wait);
    }
    entry.tokens -= 1;
    if (entry.sockets >= this.opts.socketsPerAddress) {
      return this.refuse(socket, 429, 'E_BUSY', `your address already has ${this.opts.socketsPerAddress} sockets open here; close one first`);
    }
    if (this.opts.busy?.()) {
      return this.refuse(socket, 503, 'E_BUSY', 'this server holds all the data it may from its peers now; try again later', 1);
    }
    entry.sockets += 1;
    const counted = entry;
    socket.once('close', () => {
      counted.sockets -= 1;
    });
    return true;
  }

  // Forget addresses with no socket open, least recently seen first, down to 90 % of the bound (so this
  // runs once per many new addresses). Addresses with sockets open are kept: the sockets bound them.
  private makeRoom(): void {
    if (this.table.size < this.maxAddresses) return;
    const target = Math.floor(this.maxAddresses * 0.9);
    for (const [key, entry] of this.table) {
      if (this.table.size <= target) return;
      if (entry.sockets === 0) this.table.delete(key);
    }
  }

  private refuse(socket: Duplex, status: 429 | 503, code: 'E_RATE' | 'E_BUSY', message: string, retryAfterSeconds?: number): false {
    this.opts.onRefused?.(code);
    refuseUpgrade(socket, status, { ERROR: message, ERROR_CODE: code }, retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) });
    return false;
  }
}

/**
 * The key an address is counted under: the client block the login limits use too (IPv4 as it is, IPv6
 * by its /64); text that is no address (a proxy's header) is cut, so the table's memory stays bounded.
 */
export function addressKey(address: string): string {
  const ip = normaliseIp(address);
  return ip === '' ? address.slice(0, MAX_KEY_CHARS) : clientBlockOf(ip);
}
