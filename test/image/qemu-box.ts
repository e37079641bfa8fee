/**
 * One Dandelion SD image booted under qemu-system-aarch64 (`-M virt -cpu cortex-a72`, software
 * emulation): a sparse copy of the image grown to a card's size, dandelion.yaml written into its FAT
 * partition with mtools (no mounting), the image's own kernel and initrd taken from that partition for
 * a direct kernel boot, the serial console to one log file per boot, and restricted user-mode networking:
 * loopback-only port forwards in, and only named host ports out (GUEST_HOST_ADDRESS). Power is cut with SIGKILL; a clean power-off goes through the virt
 * machine's power button (`system_powerdown` on the monitor), which systemd-logind answers.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { track } from '../helpers/children.js';

/** PARTUUID of the root partition: the image's disk identifier is fixed (scripts/image/build-image.sh). */
export const ROOT_PARTUUID = 'dde1a9e0-02';

export interface QemuBoxOptions {
  image: string;
  dir: string;
  /** Card size: the data partition grows to fill it on first boot. */
  diskBytes: number;
  /** Forwards from 127.0.0.1 on the host: a port to the same one in the guest, or [host, guest]. */
  ports: Array<number | [number, number]>;
  /** Ports the guest reaches at GUEST_HOST_ADDRESS, each carried to the same port on the host's 127.0.0.1. */
  hostPorts: number[];
}

/**
 * The address the guest reaches host services at. The guest's network is restricted (qemu's
 * `restrict=on`): nothing it sends leaves for the outside world (no NTP, no DNS, no package mirrors),
 * and only these ports reach the host, each connection carried by socat to 127.0.0.1.
 */
export const GUEST_HOST_ADDRESS = '10.0.2.100';

/** Why an image test cannot run here (the image not built, qemu not installed), or undefined when it can. */
export function missingForImageTest(image: string, root: string): string | undefined {
  if (!existsSync(image)) return `${path.relative(root, image)} is missing: build it with 'make image' (as root)`;
  if (spawnSync('qemu-system-aarch64', ['--version']).error) return 'qemu-system-aarch64 is missing: apt install qemu-system-arm';
  return undefined;
}

/**
 * Kernel arguments for the emulator only (a Pi boots with the card's cmdline.txt, which has none of
 * them). With KASLR the arm64 kernel forces page-table isolation on, and under software emulation its
 * TLB flush at every system call and interrupt costs 20-30 s of each boot here. A Cortex-A72 is not
 * affected by the flaw isolation guards against, so nothing the test checks depends on it.
 */
const EMULATION_ONLY_ARGS = 'nokaslr kpti=0';

export interface Boot {
  n: number;
  proc: ChildProcess;
  log: string;
  startedAt: number;
  exited: Promise<number | null>;
}

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}), env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

export class QemuBox {
  readonly disk: string;
  private fatOffset = 0;
  private kernel = '';
  private initrd = '';
  private boots = 0;
  current: Boot | undefined;

  constructor(private readonly opts: QemuBoxOptions) {
    mkdirSync(opts.dir, { recursive: true });
    this.disk = path.join(opts.dir, 'card.img');
  }

  /** A fresh card: the image copied (sparse) and grown; the kernel and initrd taken from its boot partition. */
  prepare(): void {
    run('cp', ['--sparse=always', this.opts.image, this.disk]);
    run('truncate', ['-s', String(this.opts.diskBytes), this.disk]);
    const table = JSON.parse(run('sfdisk', ['-J', this.disk])) as { partitiontable: { partitions: Array<{ start: number }> } };
    this.fatOffset = (table.partitiontable.partitions[0] as { start: number }).start * 512;
    const names = run('mdir', ['-b', '-i', this.fatImage(), '::/']).split('\n').map((l) => l.trim().replace(/^::\//, ''));
    const kernel = names.find((n) => /^vmlinuz-/.test(n));
    const initrd = names.find((n) => /^initrd\.img-/.test(n));
    if (!kernel || !initrd) throw new Error(`no vmlinuz-*/initrd.img-* in the boot partition: ${names.join(' ')}`);
    this.kernel = path.join(this.opts.dir, kernel);
    this.initrd = path.join(this.opts.dir, initrd);
    run('mcopy', ['-o', '-i', this.fatImage(), `::/${kernel}`, this.kernel]);
    run('mcopy', ['-o', '-i', this.fatImage(), `::/${initrd}`, this.initrd]);
  }

  /** mtools' "file@@offset" form: the FAT partition inside the card image. */
  fatImage(): string {
    return `${this.disk}@@${this.fatOffset}`;
  }

  /** Writes a file into the boot partition, as `dandelion provision sdcard` would. */
  writeBootFile(name: string, content: string): void {
    const local = path.join(this.opts.dir, name);
    writeFileSync(local, content);
    run('mcopy', ['-o', '-i', this.fatImage(), local, `::/${name}`]);
  }

  readBootFile(name: string): string {
    return run('mtype', ['-i', this.fatImage(), `::/${name}`]);
  }

  /** Power on. */
  boot(): Boot {
    if (this.current && this.current.proc.exitCode === null && this.current.proc.signalCode === null) throw new Error('already running');
    const n = ++this.boots;
    const log = path.join(this.opts.dir, `serial-${String(n).padStart(2, '0')}.log`);
    writeFileSync(log, '');
    const fwd = [
      ...this.opts.ports.map((p) => (Array.isArray(p) ? p : [p, p])).map(([h, g]) => `hostfwd=tcp:127.0.0.1:${h}-:${g}`),
      ...this.opts.hostPorts.map((p) => `guestfwd=tcp:${GUEST_HOST_ADDRESS}:${p}-cmd:socat - TCP:127.0.0.1:${p}`),
    ].join(',');
    const args = [
      '-M', 'virt', '-cpu', 'cortex-a72', '-m', '1024', '-smp', '2',
      '-display', 'none', '-no-reboot',
      '-chardev', `file,id=serial,path=${log}`, '-serial', 'chardev:serial',
      '-monitor', `unix:${this.monitorPath()},server=on,wait=off`,
      '-kernel', this.kernel, '-initrd', this.initrd,
      '-append', `root=PARTUUID=${ROOT_PARTUUID} ro rootfstype=ext4 fsck.repair=yes net.ifnames=0 console=ttyAMA0 rootwait ${EMULATION_ONLY_ARGS}`,
      '-drive', `file=${this.disk},format=raw,if=none,id=card,cache=writeback`, '-device', 'virtio-blk-pci,drive=card',
      '-netdev', `user,id=net,restrict=on,${fwd}`, '-device', 'virtio-net-pci,netdev=net,romfile=',
    ];
    const proc = spawn('qemu-system-aarch64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    track(proc);
    proc.stderr?.on('data', (d: Buffer) => appendFileSync(log, `\n[qemu stderr] ${d.toString()}`));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    this.current = { n, proc, log, startedAt: Date.now(), exited };
    return this.current;
  }

  /** Power cut: the emulator dies at once; whatever the guest had not written is lost. */
  async cut(): Promise<void> {
    const b = this.current;
    if (!b) return;
    b.proc.kill('SIGKILL');
    await b.exited;
  }

  /** The power button: a clean shutdown; SIGKILL after `timeoutMs`. Resolves true when the guest powered off by itself. */
  async powerOff(timeoutMs = 120_000): Promise<boolean> {
    const b = this.current;
    if (!b) return true;
    await this.monitor('system_powerdown');
    const clean = await Promise.race([b.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref())]);
    if (!clean) await this.cut();
    return clean;
  }

  private monitorPath(): string {
    return path.join(this.opts.dir, 'monitor.sock');
  }

  private monitor(command: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const s = net.connect(this.monitorPath(), () => {
        s.write(`${command}\n`);
        setTimeout(() => { s.end(); resolve(); }, 500);
      });
      s.on('error', reject);
    });
  }
}
