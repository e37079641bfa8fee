// The box's readings come from the kernel's own files, read directly (no systeminformation, no shell):
// memory from /proc/meminfo, the CPU clock, the CPU's thermal zone, the interfaces' byte counters.
// A fake /proc and /sys tree stands in for a Pi's; this machine's own files are read as well.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { KERNEL_PATHS, cpuClockHz, cpuTemperatureC, interfaceBytes, memoryBytes, parseMeminfo } from '../../src/platform/kernel-readings.js';
import type { KernelPaths } from '../../src/platform/kernel-readings.js';
import { systemReadings } from '../../src/platform/readings.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function fakeTree(t: { teardown(fn: () => unknown): void }, files: Record<string, string>): KernelPaths {
  const root = mkdtempSync(path.join(os.tmpdir(), 'dandelion-kernel-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, name)), { recursive: true });
    writeFileSync(path.join(root, name), text);
  }
  return { meminfo: path.join(root, 'proc/meminfo'), thermal: path.join(root, 'sys/class/thermal'), net: path.join(root, 'sys/class/net'), cpu: path.join(root, 'sys/devices/system/cpu') };
}

const PI = {
  'proc/meminfo': 'MemTotal:         948304 kB\nMemFree:          512000 kB\nMemAvailable:     700000 kB\nBuffers:           10000 kB\n',
  'sys/class/thermal/thermal_zone0/type': 'cpu-thermal\n',
  'sys/class/thermal/thermal_zone0/temp': '48312\n',
  'sys/class/net/eth0/statistics/rx_bytes': '1000\n',
  'sys/class/net/eth0/statistics/tx_bytes': '2000\n',
  'sys/class/net/wlan0/statistics/rx_bytes': '30\n',
  'sys/class/net/wlan0/statistics/tx_bytes': '40\n',
  'sys/class/net/lo/statistics/rx_bytes': '999999\n',
  'sys/class/net/lo/statistics/tx_bytes': '999999\n',
  'sys/class/net/veth12/statistics/tx_bytes': '777777\n',
  'sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq': '1200000\n',
  'sys/devices/system/cpu/cpu1/cpufreq/scaling_cur_freq': '600000\n',
};

t.test('a Pi-like tree: memory, clock from cpufreq, the CPU zone, external interfaces only', async (t) => {
  const paths = fakeTree(t, PI);
  t.same(await memoryBytes(paths), { total: 948304 * 1024, available: 700000 * 1024 }, 'MemTotal and MemAvailable in bytes');
  t.equal(await cpuClockHz(paths, [{ speed: 0 }, { speed: 0 }]), 900_000_000, 'no speed from os.cpus(): cpufreq kHz averaged, in Hz');
  t.equal(await cpuClockHz(paths, [{ speed: 1500 }, { speed: 1400 }]), 1_450_000_000, 'os.cpus() MHz averaged, in Hz');
  t.equal(await cpuTemperatureC(paths), 48.3, 'cpu-thermal in °C, one decimal');
  t.same(await interfaceBytes(paths, ['lo', 'eth0', 'wlan0', 'veth12']), { rx: 1030, tx: 2040 }, 'loopback and veths left out');
  t.same(await interfaceBytes(paths, ['lo']), { rx: 0, tx: 0 }, 'no external interface: nothing sent');
});

t.test('the CPU zone is preferred over others; a machine without one gives no reading', async (t) => {
  const paths = fakeTree(t, {
    'sys/class/thermal/thermal_zone0/type': 'acpitz\n',
    'sys/class/thermal/thermal_zone0/temp': '27800\n',
    'sys/class/thermal/thermal_zone1/type': 'x86_pkg_temp\n',
    'sys/class/thermal/thermal_zone1/temp': '61000\n',
  });
  t.equal(await cpuTemperatureC(paths), 61, 'the package zone, not ACPI');
  const empty = fakeTree(t, {});
  t.equal(await cpuTemperatureC(empty), undefined, 'no thermal zones: no TEMPERATURE');
  t.equal(await memoryBytes(empty), undefined, 'no /proc/meminfo: no memory readings');
  t.equal(await cpuClockHz(empty, []), undefined, 'no clock anywhere: no CPU-HZ');
  t.equal(await interfaceBytes(empty, ['eth0']), undefined, 'counters unreadable: no NET bytes');
  t.equal(parseMeminfo('MemTotal: 10 kB\n'), undefined, 'a meminfo without MemAvailable gives nothing');
});

t.test('this machine: the same readings an EXCHANGE carries, from its own kernel', async (t) => {
  const mem = await memoryBytes(KERNEL_PATHS);
  t.ok(mem && mem.total > 0 && mem.available > 0 && mem.available <= mem.total, 'memory readings');
  const r = await systemReadings({ baseDirectory: os.tmpdir() }).sample();
  t.equal(r['MEM-TOTAL'], os.totalmem(), 'MEM-TOTAL is the kernel\'s total, as os.totalmem() reads it');
  t.ok(typeof r['NET-TX-BYTES'] === 'number', 'NET-TX-BYTES for the viewer budget');
  t.ok(typeof r['DISK-AVAIL'] === 'number', 'disk readings still there');
});

t.test('the readings module loads no systeminformation', async (t) => {
  // A fresh Node, so what this test file imported does not count.
  const readings = path.join(HERE, '../../src/platform/readings.js');
  const script = `import(${JSON.stringify(readings)}).then(() => { const c = Object.keys(require('node:module').createRequire(${JSON.stringify(readings)}).cache); process.stdout.write(JSON.stringify(c)); })`;
  const loaded = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })) as string[];
  t.same(loaded.filter((f) => f.includes('systeminformation')), [], 'no systeminformation module in the process');
});
