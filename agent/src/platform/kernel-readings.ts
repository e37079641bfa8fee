/**
 * The readings the kernel gives in a file each: memory (/proc/meminfo), CPU clock, CPU temperature
 * (/sys/class/thermal) and interface byte counters (/sys/class/net). Read directly: systeminformation
 * gave the same four for about 10 MiB of resident memory and a shell spawned per temperature sample.
 * Each returns undefined when the machine does not have it; nothing is invented.
 */
import { readFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Where the kernel's files are; tests point these at a fake tree. */
export interface KernelPaths {
  meminfo: string;
  thermal: string;
  net: string;
  cpu: string;
}

export const KERNEL_PATHS: KernelPaths = { meminfo: '/proc/meminfo', thermal: '/sys/class/thermal', net: '/sys/class/net', cpu: '/sys/devices/system/cpu' };

const readText = (file: string): Promise<string | undefined> => readFile(file, 'utf8').catch(() => undefined);

/** MemTotal and MemAvailable of /proc/meminfo, in bytes. */
export function parseMeminfo(text: string): { total: number; available: number } | undefined {
  const kib = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const total = kib('MemTotal');
  const available = kib('MemAvailable');
  return total === undefined || available === undefined ? undefined : { total, available };
}

export async function memoryBytes(paths: KernelPaths = KERNEL_PATHS): Promise<{ total: number; available: number } | undefined> {
  const text = await readText(paths.meminfo);
  return text === undefined ? undefined : parseMeminfo(text);
}

/**
 * The CPU's current clock in Hz, averaged over cores: what os.cpus() reports, else cpufreq's
 * scaling_cur_freq (kHz; ARM kernels often give os.cpus() no speed). Undefined when neither knows.
 */
export async function cpuClockHz(paths: KernelPaths = KERNEL_PATHS, cpus: Array<{ speed: number }> = os.cpus()): Promise<number | undefined> {
  const mhz = cpus.map((c) => c.speed).filter((s) => s > 0);
  if (mhz.length > 0) return Math.round((mhz.reduce((a, b) => a + b, 0) / mhz.length) * 1e6);
  const names = (await readdir(paths.cpu).catch(() => [] as string[])).filter((n) => /^cpu\d+$/.test(n));
  const khz = (await Promise.all(names.map((n) => readText(path.join(paths.cpu, n, 'cpufreq', 'scaling_cur_freq')))))
    .map(Number).filter((k) => Number.isFinite(k) && k > 0);
  return khz.length > 0 ? Math.round((khz.reduce((a, b) => a + b, 0) / khz.length) * 1e3) : undefined;
}

/**
 * The CPU's temperature in °C, one decimal: the thermal zone whose type names the CPU (a Pi's
 * "cpu-thermal", a PC's "x86_pkg_temp"), else the first zone with a reading.
 */
export async function cpuTemperatureC(paths: KernelPaths = KERNEL_PATHS): Promise<number | undefined> {
  const zones = (await readdir(paths.thermal).catch(() => [] as string[])).filter((n) => n.startsWith('thermal_zone')).sort();
  const read = await Promise.all(zones.map(async (z) => ({
    type: ((await readText(path.join(paths.thermal, z, 'type'))) ?? '').trim().toLowerCase(),
    milli: Number(await readText(path.join(paths.thermal, z, 'temp'))),
  })));
  const valid = read.filter((z) => Number.isFinite(z.milli) && z.milli > 0);
  const zone = valid.find((z) => z.type.includes('cpu') || z.type.includes('pkg')) ?? valid[0];
  return zone ? Math.round(zone.milli / 100) / 10 : undefined;
}

/** Interfaces that are not the box's own traffic to the world: loopback and containers' veth ends. */
const internal = (iface: string): boolean => iface === 'lo' || iface.startsWith('veth');

/**
 * Bytes received and sent since boot over the configured interfaces (those with an address), loopback
 * and veths left out: 0 when there are none, undefined when none of theirs could be read.
 */
export async function interfaceBytes(paths: KernelPaths = KERNEL_PATHS, names: string[] = Object.keys(os.networkInterfaces())): Promise<{ rx: number; tx: number } | undefined> {
  const external = names.filter((n) => !internal(n) && !n.includes('/'));
  if (external.length === 0) return { rx: 0, tx: 0 };
  const counters = await Promise.all(external.map(async (n) => ({
    rx: Number(await readText(path.join(paths.net, n, 'statistics', 'rx_bytes'))),
    tx: Number(await readText(path.join(paths.net, n, 'statistics', 'tx_bytes'))),
  })));
  const read = counters.filter((c) => Number.isFinite(c.rx) && Number.isFinite(c.tx));
  if (read.length === 0) return undefined;
  return { rx: read.reduce((a, c) => a + c.rx, 0), tx: read.reduce((a, c) => a + c.tx, 0) };
}
