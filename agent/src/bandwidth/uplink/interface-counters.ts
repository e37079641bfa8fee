/**
 * The box's interface towards its entrance and what it has sent: read from the kernel's counters, which
 * see every byte the box puts on the wire (viewers, heartbeats, a capacity test), headers included.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';

/** The name of the interface holding `address`, unless it is a loopback one (the demo and tests run there). */
export function interfaceOf(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  for (const [name, addrs] of Object.entries(os.networkInterfaces())) {
    if (addrs?.some((a) => a.address === address && !a.internal)) return name;
  }
  return undefined;
}

/** Bytes `iface` has sent since it came up, or undefined when the kernel does not say. */
export async function interfaceSentBytes(iface: string): Promise<number | undefined> {
  const text = await readFile(`/sys/class/net/${iface}/statistics/tx_bytes`, 'utf8').catch(() => '');
  const bytes = Number(text.trim());
  return text.trim() !== '' && Number.isSafeInteger(bytes) ? bytes : undefined;
}
