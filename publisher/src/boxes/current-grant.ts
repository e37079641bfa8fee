/**
 * The newest grant from a SEARCH reply. Every new box socket's PUBLISH shows it; open sockets are sent it
 * again at most every GRANT_RENEW_MS, well within a grant's life (10 min), rather than after every SEARCH.
 */

/** How often open sockets get the newest grant. */
export const GRANT_RENEW_MS = 60_000;

export class CurrentGrant {
  private grant: string | undefined;
  private renewedAt = Date.now();

  /** `renewOpenSockets` sends PUBLISH with the newest grant on every open box socket. */
  constructor(private readonly renewOpenSockets: () => void) {}

  get value(): string | undefined {
    return this.grant;
  }

  take(fresh: string): void {
    this.grant = fresh;
    if (Date.now() - this.renewedAt < GRANT_RENEW_MS) return;
    this.renewedAt = Date.now();
    this.renewOpenSockets();
  }
}
