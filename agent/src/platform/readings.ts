/**
 * What the box reports about itself in every EXCHANGE, behind one small interface so tests on a
 * machine without Pi hardware can supply readings it lacks. The real source reads the kernel's files
 * (kernel-readings.ts, and /proc/stat for the original's CPU split: user, system, nice, idle, iowait,
 * irq, softirq) and statfs for the disk holding BASE_DIRECTORY.
 * A reading the machine cannot give is left out, never invented.
 */
import { readFile, stat as statPath, statfs } from 'node:fs/promises';
import os from 'node:os';
import { cpuClockHz, cpuTemperatureC, interfaceBytes, memoryBytes } from './kernel-readings.js';
import type { NumericReading } from '../../../shared/src/protocol/index.js';

export type Readings = Partial<Record<NumericReading, number>>;

export interface ReadingsSource {
  /** One sample. CPU percentages are over the time since the previous sample. */
  sample(): Promise<Readings>;
}

const GB = 1e9;

interface CpuTimes { user: number; nice: number; system: number; idle: number; iowait: number; irq: number; softirq: number; total: number }

export function parseProcStat(text: string): CpuTimes | undefined {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return undefined;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { user, nice, system, idle, iowait, irq, softirq, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

/** Percent of CPU time in each state between two /proc/stat samples (the original's CPU-* fields). */
export function cpuSplit(prev: CpuTimes, cur: CpuTimes): Readings {
  const dt = cur.total - prev.total;
  if (dt <= 0) return {};
  const pct = (k: keyof CpuTimes): number => Math.round(((cur[k] - prev[k]) / dt) * 10000) / 100;
  return { 'CPU-USR': pct('user'), 'CPU-NIC': pct('nice'), 'CPU-SYS': pct('system'), 'CPU-IDLE': pct('idle'), 'CPU-IO': pct('iowait'), 'CPU-IRQ': pct('irq'), 'CPU-SIRQ': pct('softirq') };
}

function put(out: Readings, key: NumericReading, value: number | null | undefined): void {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) out[key] = value;
}

export function systemReadings(opts: { baseDirectory: string; procStatPath?: string }): ReadingsSource {
  let prevCpu: CpuTimes | undefined;
  const procStat = opts.procStatPath ?? '/proc/stat';
  return {
    async sample() {
      const out: Readings = {};
      const [stat, mem, clockHz, temp, net, disk, deviceWritten, agentWritten] = await Promise.all([
        readFile(procStat, 'utf8').then(parseProcStat, () => undefined),
        memoryBytes(),
        cpuClockHz(),
        cpuTemperatureC(),
        interfaceBytes(),
        statfs(opts.baseDirectory).catch(() => undefined),
        deviceBytesWritten(opts.baseDirectory).catch(() => undefined),
        readFile('/proc/self/io', 'utf8').then(parseProcIoWriteBytes, () => undefined),
      ]);
      if (stat && prevCpu) Object.assign(out, cpuSplit(prevCpu, stat));
      if (stat) prevCpu = stat;
      put(out, 'CPU-HZ', clockHz);
      put(out, 'CPU-NUM', os.availableParallelism());
      const [l1, l5, l15] = os.loadavg();
      put(out, 'LOADAVG-1', l1);
      put(out, 'LOADAVG-5', l5);
      put(out, 'LOADAVG-15', l15);
      if (mem) {
        put(out, 'MEM-TOTAL', mem.total);
        put(out, 'MEM-AVAIL', mem.available);
      }
      if (disk) {
        put(out, 'DISK-TOTAL', Math.round(((disk.blocks * disk.bsize) / GB) * 1000) / 1000);
        put(out, 'DISK-AVAIL', Math.round(((disk.bavail * disk.bsize) / GB) * 1000) / 1000);
      }
      put(out, 'TEMPERATURE', temp);
      if (net) {
        put(out, 'NET-RX-BYTES', net.rx);
        put(out, 'NET-TX-BYTES', net.tx);
      }
      put(out, 'UPTIME', Math.round(os.uptime()));
      // SD cards wear out: what reached the card holding the files (since boot), and the agent's own share.
      put(out, 'DISK-WRITE-BYTES', deviceWritten);
      put(out, 'AGENT-WRITE-BYTES', agentWritten);
      return out;
    },
  };
}

/** Bytes written since boot to the block device (partition) holding `dir`: sectors written × 512 (Documentation/block/stat.rst). */
async function deviceBytesWritten(dir: string): Promise<number | undefined> {
  const { dev } = await statPath(dir);
  // Linux's dev_t: major in bits 8-19, minor in bits 0-7 and 20-31.
  const major = (dev >> 8) & 0xfff;
  const minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
  const text = await readFile(`/sys/dev/block/${major}:${minor}/stat`, 'utf8');
  const sectors = Number(text.trim().split(/\s+/)[6]);
  return Number.isFinite(sectors) ? sectors * 512 : undefined;
}

/** write_bytes of /proc/<pid>/io: what this process caused to be written to storage. */
export function parseProcIoWriteBytes(text: string): number | undefined {
  const m = /^write_bytes:\s*(\d+)$/m.exec(text);
  return m ? Number(m[1]) : undefined;
}

/** Fixed readings layered over a real source, for machines that lack some hardware (tests, CI). */
export function withOverrides(source: ReadingsSource, overrides: () => Readings): ReadingsSource {
  return { sample: async () => ({ ...(await source.sample()), ...overrides() }) };
}
