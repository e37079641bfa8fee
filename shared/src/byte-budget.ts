/**
 * The memory peers can make a process hold, counted in bytes: what arrived on a WebSocket and has not
 * been handled yet (the frame ws is still receiving, frames queued behind the one being handled, and that
 * one). Counting bytes, not frames, bounds memory whatever the frame sizes (as ws's bufferedAmount and
 * nginx's client_max_body_size do): a frame count alone would let one socket queue 24 frames of 40 MiB.
 *
 * Two limits: each socket holds at most `socketBytes` (one largest frame and its header at the box, so a
 * publisher may pipeline frames only up to that), and all sockets together at most `totalBytes`. A socket
 * over its own limit is refused (closed with 1013). When the process total would be crossed, the socket
 * holding the most is refused (usually the one flooding, and never a small peer while a big one holds
 * more), so the others go on. The socket's owner (ws-server.ts) does the closing; this module only counts.
 *
 * Why refuse rather than pause (stop reading, let TCP push back): a paused socket still holds its half
 * frame for as long as its peer likes, and sockets paused on a full process budget wait for each other
 * for ever. A close with 1013 frees the memory at once and tells an honest peer to come back later (a
 * publisher tries another box); nothing is stored half-way, since a frame is handled only once whole.
 */

/** A refused socket: its close code and reason. */
export interface Refusal {
  code: 'E_BUSY';
  close: number;
  reason: string;
}

export interface ByteBudgetLimits {
  /** Most bytes all sockets together may hold. */
  totalBytes: number;
  /** Most bytes one socket may hold; at least one largest frame and its header. */
  socketBytes: number;
  /** Most frames one socket may have received and not yet had handled. */
  framesInFlight: number;
}

/** Frames one socket may have received and not yet had handled, whatever their size. */
export const FRAMES_IN_FLIGHT = 64;

/** Bytes a client frame of this payload length takes on the wire: 2 header bytes, the length, the 4-byte mask. */
export function wireBytes(payloadBytes: number): number {
  return payloadBytes + 6 + (payloadBytes > 0xffff ? 8 : payloadBytes > 125 ? 2 : 0);
}

const TRY_AGAIN_LATER = 1013;

export class ByteBudget {
  private held = 0;
  private readonly open = new Set<SocketAccount>();

  constructor(readonly limits: ByteBudgetLimits) {}

  /** Bytes all sockets hold now. */
  get heldBytes(): number {
    return this.held;
  }

  /** True when the process holds all it may: new sockets are refused until some is handled. */
  get exhausted(): boolean {
    return this.held >= this.limits.totalBytes;
  }

  /** An account for one new socket; `refuse` is called (once) when the socket must be closed. */
  account(refuse: (why: Refusal) => void): SocketAccount {
    const account = new SocketAccount(this, refuse);
    this.open.add(account);
    return account;
  }

  /** @internal Move `n` bytes in (positive) or out (negative) of the process total. */
  adjust(n: number): void {
    this.held += n;
  }

  /** @internal The account no longer takes bytes: closed or refused. */
  forget(account: SocketAccount): void {
    this.open.delete(account);
  }

  /** @internal Refuse the biggest holders until the total fits again (or no open socket is left to refuse). */
  rebalance(): void {
    while (this.held > this.limits.totalBytes) {
      let biggest: SocketAccount | undefined;
      for (const a of this.open) if (!biggest || a.heldBytes > biggest.heldBytes) biggest = a;
      if (!biggest || biggest.heldBytes === 0) return;
      biggest.refuse(`this process holds ${this.limits.totalBytes} bytes from its peers; this socket held the most (${biggest.heldBytes}); try again later`);
    }
  }
}

/**
 * One socket's bytes: `receiving` counts what arrived and is not yet part of a whole frame (the frame ws
 * is assembling), `queued` the whole frames waiting or being handled. The counts are the wire's: a frame
 * moves from receiving to queued with its header bytes, ping and pong frames leave at once. Headers of
 * fragments are not seen (ws hands over the joined message), so a fragmenting peer is counted a little
 * high; everything is released when the socket closes.
 */
export class SocketAccount {
  private receiving = 0;
  private queued = 0;
  private frames = 0;
  private state: 'open' | 'closed' | 'refused' = 'open';

  constructor(
    private readonly budget: ByteBudget,
    private readonly onRefuse: (why: Refusal) => void,
  ) {}

  get heldBytes(): number {
    return this.receiving + this.queued;
  }

  /** True once the socket was refused: its frames are dropped, not handled. */
  get refused(): boolean {
    return this.state === 'refused';
  }

  /** Bytes read from the socket. */
  arrived(n: number): void {
    if (this.state !== 'open') return;
    this.receiving += n;
    this.budget.adjust(n);
    if (this.heldBytes > this.budget.limits.socketBytes) {
      this.refuse(`this socket holds more than ${this.budget.limits.socketBytes} bytes not yet handled; wait for replies before sending more`);
      return;
    }
    this.budget.rebalance();
  }

  /**
   * A whole frame of `payloadBytes` came out of ws. Returns the bytes to give back to handled() once it
   * is handled (0 when the socket was refused: then the frame is dropped).
   */
  framed(payloadBytes: number): number {
    if (this.state === 'refused') return 0;
    const bytes = Math.min(this.receiving, wireBytes(payloadBytes));
    this.receiving -= bytes;
    this.queued += bytes;
    this.frames += 1;
    if (this.state === 'open' && this.frames > this.budget.limits.framesInFlight) {
      this.refuse(`more than ${this.budget.limits.framesInFlight} frames sent without waiting for replies`);
      return 0;
    }
    return bytes;
  }

  /** A frame framed() counted was handled: its bytes leave. */
  handled(bytes: number): void {
    if (this.state === 'refused') return;
    this.queued -= bytes;
    this.frames -= 1;
    this.budget.adjust(-bytes);
  }

  /** A control frame (ping, pong) of this payload length was read and needs no handling. */
  control(payloadBytes: number): void {
    if (this.state !== 'open') return;
    const bytes = Math.min(this.receiving, wireBytes(payloadBytes));
    this.receiving -= bytes;
    this.budget.adjust(-bytes);
  }

  /**
   * The socket closed. What ws was still assembling is gone; whole frames already queued are still
   * handled (a publisher may send files and close without waiting) and leave through handled().
   */
  closed(): void {
    if (this.state !== 'open') return;
    this.state = 'closed';
    this.budget.adjust(-this.receiving);
    this.receiving = 0;
    this.budget.forget(this);
  }

  /**
   * @internal Close this socket as over budget. A refused socket reads nothing more and its queued
   * frames are dropped unhandled, so all it held is given back at once (the frame being handled, if
   * any, is freed when its handler returns).
   */
  refuse(reason: string): void {
    if (this.state === 'refused') return;
    const wasOpen = this.state === 'open';
    this.state = 'refused';
    this.budget.adjust(-this.heldBytes);
    this.budget.forget(this);
    this.receiving = 0;
    this.queued = 0;
    if (wasOpen) this.onRefuse({ code: 'E_BUSY', close: TRY_AGAIN_LATER, reason });
  }
}
