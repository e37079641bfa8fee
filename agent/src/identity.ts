/**
 * The box's ID: `box-<hash>` of the hardware, so a reboot, a reinstall of the agent or (with the Pi
 * serial) a re-flashed card keeps the same ID. The Raspberry Pi serial in /proc/cpuinfo is preferred;
 * elsewhere /etc/machine-id. An ID set in config wins.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../../shared/src/fs-atomic.js';
import { isIdOf } from '../../shared/src/protocol/index.js';

export interface IdentitySources {
  cpuinfoPath: string;
  machineIdPath: string;
}

export const SYSTEM_IDENTITY_SOURCES: IdentitySources = { cpuinfoPath: '/proc/cpuinfo', machineIdPath: '/etc/machine-id' };

/** The Pi's serial ("Serial : 10000000abcdef01"), or undefined on machines without one (or an all-zero one). */
export function piSerialOf(cpuinfo: string): string | undefined {
  const m = /^Serial\s*:\s*([0-9a-fA-F]+)\s*$/m.exec(cpuinfo);
  const serial = m?.[1];
  if (serial === undefined || /^0+$/.test(serial)) return undefined;
  return serial.toLowerCase();
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

/**
 * With `storedFile`, an ID not tied to a Pi serial is kept there once derived, so a machine-id that
 * changes later (an image whose machine-id is made at boot, a reinstall) does not make a new box whose
 * enrolment and key no longer match. A Pi serial always wins: a re-flashed card is the same box.
 */
export async function resolveBoxId(configured: string | undefined, sources: IdentitySources = SYSTEM_IDENTITY_SOURCES, storedFile?: string): Promise<string> {
  if (configured !== undefined) return configured;
  const hasSerial = piSerialOf((await readOptional(sources.cpuinfoPath)) ?? '') !== undefined;
  if (storedFile === undefined || hasSerial) return deriveBoxId(sources);
  const stored = (await readOptional(storedFile))?.trim();
  if (stored !== undefined && isIdOf(stored, 'BOX')) return stored;
  const id = await deriveBoxId(sources);
  await writeFileAtomic(storedFile, `${id}\n`);
  return id;
}
