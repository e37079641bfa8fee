/**
 * The box's ID: `box-<hash>` of the hardware, so a reboot, a reinstall of the agent or (with the Pi
 * serial) a re-flashed card keeps the same ID. The Raspberry Pi serial in /proc/cpuinfo is preferred;
 * elsewhere /etc/machine-id. An ID set in config wins.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export interface IdentitySources {
  cpuinfoPath: string;
  machineIdPath: string;
}

export const SYSTEM_IDENTITY_SOURCES: IdentitySources = { cpuinfoPath: '/proc/cpuinfo', machineIdPath: '/etc/machine-id' };

/** The Pi's serial ("Serial : 10000000abcdef01"), or undefined on machines without one (or an all-zero one). */
export function piSerialOf(cpuinfo: string): string | undefined {
  const m = /^Serial\s*:\s*([0-9a-fA-F]+)\s*$/m.exec(cpuinfo);
  if (!m || /^0+$/.test(m[1] as string)) return undefined;
  return (m[1] as string).toLowerCase();
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined; // intentional: a missing source just means "try the next one"
  }
}

export async function deriveBoxId(sources: IdentitySources = SYSTEM_IDENTITY_SOURCES): Promise<string> {
  const serial = piSerialOf((await readOptional(sources.cpuinfoPath)) ?? '');
  const machineId = (await readOptional(sources.machineIdPath))?.trim();
  const basis = serial !== undefined ? `pi-serial:${serial}` : machineId ? `machine-id:${machineId}` : undefined;
  if (basis === undefined) {
    throw new Error(`no hardware identity: neither a Raspberry Pi serial in ${sources.cpuinfoPath} nor ${sources.machineIdPath}; set ID in the config`);
  }
  // Hash rather than expose: machine-id is meant to stay private (machine-id(5)).
  return `box-${createHash('sha256').update(`dandelion:${basis}`).digest('hex').slice(0, 32)}`;
}

export async function resolveBoxId(configured: string | undefined, sources?: IdentitySources): Promise<string> {
  return configured ?? deriveBoxId(sources);
}
