/** A set of slots, with at most `perKey` held under one key (a client address). */
export class Slots {
  private readonly byKey = new Map<string, number>();
  private running = 0;

  constructor(
    private readonly size: number,
    private readonly perKey: number,
  ) {}

  /** Why a slot cannot be taken now, or undefined when it can. */
  busy(key: string): string | undefined {
    if ((this.byKey.get(key) ?? 0) >= this.perKey) return 'a speed test from this address is already running';
    if (this.running >= this.size) return 'too many speed tests running';
    return undefined;
  }

  /** Take a slot (check busy() first); the function gives it back, once. */
  take(key: string): () => void {
    this.running++;
    this.byKey.set(key, (this.byKey.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      const left = (this.byKey.get(key) ?? 1) - 1;
      if (left > 0) this.byKey.set(key, left);
      else this.byKey.delete(key); // so the map only ever holds addresses with a test running
    };
  }
}
