// `make binaries`: the box agent as standalone executables in dist/ (see docs/binaries.md).
//
//   1. base Node binaries: `npm pack` of the packages pinned in binaries/base-nodes.json, checked
//      against the pinned npm integrity and bin/node's SHA-256, then stripped with Debian's binutils;
//   2. one CommonJS bundle of bin/dandelion.ts (esbuild): the agent, --version, --help, config example,
//      hash-password, provision; version and commit baked in; no native addons, no files read beside it;
//   3. Node 22 targets (x64, arm64): pkg's SEA mode (@yao-pkg/pkg), run by the pinned x64 Node 22, with
//      the heap cap as SEA execArgv;
//   4. armv7 (Node 20.11, the newest on npm): Node's own SEA steps, the blob made by the armv7 node
//      itself under qemu-arm, injected with postject;
//   5. dist/SHA256SUMS and a size report (each binary ≤ 1.1 × its stripped base, or the build fails).
//
// Usage: node scripts/binaries/build.mjs [--release-keys FILE] [TARGET…]   (TARGET: linux-x64, linux-arm64, linux-armv7; default all)
//        --release-keys FILE: bake these release public keys in (default release/release-keys.txt; docs/updates.md)
//        --version V --out DIR: bake version V instead of package.json's and write the binaries to DIR, not
//          dist/ (the update tests' binaries; test/binary/update-binaries.ts)
//        node scripts/binaries/build.mjs --base-node TARGET   (step 1 alone; prints the stripped Node's path)
// Reaches only the npm registry (npm pack); everything else is local.
import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey } from 'node:crypto';
import { builtinModules } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { inject } from 'postject';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const WORK = path.join(ROOT, 'build', 'binaries');
const DIST = path.join(ROOT, 'dist');
const PINS = JSON.parse(fs.readFileSync(path.join(ROOT, 'binaries', 'base-nodes.json'), 'utf8')).targets;

/** V8 old-space cap baked into every binary (MiB): a Pi 3 has 1 GiB; the agent's heap stays far below. */
const HEAP_MB = 256;
/**
 * V8's young generation capped at 1 MiB per semi-space (V8 grows it to 16 MiB): the agent allocates
 * little that lives long, and each MiB it keeps resident is one of a 512 MiB Pi's (bench agent-memory;
 * bin/dandelion gives the Node build the same flag).
 */
const SEMI_SPACE_MB = 1;
const EXEC_ARGV = [`--max-old-space-size=${HEAP_MB}`, `--max-semi-space-size=${SEMI_SPACE_MB}`];
/** The size goal of issue #7: a binary is at most this many times its stripped base Node. */
const MAX_RATIO = 1.1;
/** postject's marker; Node's SEA code looks for it flipped (docs: single-executable-applications). */
const SEA_FUSE = 'NODE_SEA' + '_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** Roles whose code reads files beside it at run time (hls.js, map data, the repository): not in the box binary. */
const LEFT_OUT = ['entrance', 'publisher', 'demo'];
/**
 * Optional modules required inside try/catch, left out: ws's native addons (without them it uses its
 * JavaScript code) and systeminformation's macOS temperature readers (never reached on Linux).
 */
const OPTIONAL_NATIVE = ['bufferutil', 'utf-8-validate', 'osx-temperature-sensor', 'macos-temperature-sensor'];

const sha256 = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const sha512b64 = (file) => createHash('sha512').update(fs.readFileSync(file)).digest('base64');
const mib = (n) => (n / 1048576).toFixed(1);
const say = (msg) => process.stdout.write(`binaries: ${msg}\n`);

function fail(msg) {
  process.stderr.write(`binaries: ${msg}\n`);
  process.exit(1);
}

function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1048576, ...opts }).toString();
  } catch (err) {
    const e = /** @type {{code?: string, stderr?: Buffer, stdout?: Buffer, message: string}} */ (err);
    if (e.code === 'ENOENT') fail(`${cmd} not found; install the build's Debian packages with 'make deps'`);
    fail(`${cmd} ${args.join(' ')} failed:\n${e.stderr?.toString() ?? ''}${e.stdout?.toString() ?? ''}${e.message}`);
  }
}

/** The stripped stock Node for `name`, fetched and checked once, then kept under build/binaries/base/. */
function baseNode(name) {
  const pin = PINS[name];
  if (!pin) fail(`unknown target ${name}; known: ${Object.keys(PINS).join(', ')}`);
  const dir = path.join(WORK, 'base', `${name}-${pin.version}`);
  const stripped = path.join(dir, 'node');
  const stamp = path.join(dir, 'verified');
  const expected = `${pin.package}@${pin.version} ${pin.integrity} ${pin.sha256}\n`;
  if (fs.existsSync(stripped) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === expected) return { pin, stripped };
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  say(`fetching ${pin.package}@${pin.version} from the npm registry`);
  const packed = JSON.parse(run('npm', ['pack', `${pin.package}@${pin.version}`, '--json', '--prefer-offline', '--pack-destination', dir], { cwd: dir }));
  const tgz = path.join(dir, packed[0].filename);
  // npm checks the registry's own integrity; these checks pin the bytes against a registry that changed.
  if (packed[0].integrity !== pin.integrity || sha512b64(tgz) !== pin.integrity.replace(/^sha512-/, '')) {
    fail(`${pin.package}@${pin.version}: tarball integrity ${packed[0].integrity} is not the pinned ${pin.integrity}`);
  }
  run('tar', ['-xzf', tgz, '-C', dir, 'package/bin/node']);
  const unstripped = path.join(dir, 'node.unstripped');
  fs.renameSync(path.join(dir, 'package', 'bin', 'node'), unstripped);
  fs.rmSync(path.join(dir, 'package'), { recursive: true });
  fs.rmSync(tgz);
  const got = sha256(unstripped);
  if (got !== pin.sha256) fail(`${pin.package}@${pin.version}: bin/node SHA-256 ${got} is not the pinned ${pin.sha256}`);
  run(pin.strip, ['--strip-all', '-o', stripped, unstripped]);
  fs.chmodSync(stripped, 0o755);
  say(`${name}: node ${pin.version} verified, stripped ${mib(fs.statSync(unstripped).size)} → ${mib(fs.statSync(stripped).size)} MiB`);
  fs.rmSync(unstripped); // the dynamic symbol table (objdump -T: glibc versions) survives stripping
  fs.writeFileSync(stamp, expected);
  return { pin, stripped };
}

/** esbuild plugin: the roles left out answer with a usage error naming where to run them. */
const agentOnly = {
  name: 'agent-only',
  setup(build) {
    const filter = new RegExp(`^\\.\\./(${LEFT_OUT.join('|')})/src/main\\.js$`);
    build.onResolve({ filter }, (args) => ({ path: filter.exec(args.path)[1], namespace: 'left-out' }));
    build.onLoad({ filter: /.*/, namespace: 'left-out' }, (args) => ({
      loader: 'ts',
      resolveDir: path.join(ROOT, 'shared', 'src'),
      contents: `import { UsageError } from './cli.js';
export async function main(): Promise<void> {
  throw new UsageError(${JSON.stringify(`${args.path} is not part of this standalone box-agent binary; run it with bin/dandelion from the repository (Node 20)`)});
}`,
    }));
  },
};

/** The release public keys to bake in: one base64 SPKI Ed25519 key per line, # comments (shared/src/release/trusted-keys.ts). */
function releaseKeysText(file) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    fail(`--release-keys ${file}: ${err.message}`);
  }
  let count = 0;
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    let key;
    try {
      key = createPublicKey({ key: Buffer.from(line, 'base64'), format: 'der', type: 'spki' });
    } catch {
      key = undefined;
    }
    if (key?.asymmetricKeyType !== 'ed25519') fail(`${file}, line ${i + 1}: not an Ed25519 public key (base64 SPKI)`);
    count++;
  }
  if (count === 0) fail(`${file}: no release key; a box built so could never be updated`);
  return text;
}

async function bundle(info, outDir, keysText) {
  const outfile = path.join(outDir, 'dandelion.cjs');
  const baked = JSON.stringify({ version: info.version, commit: info.commit });
  // DANDELION_BINARY_INFO=1 prints what is baked in (and the heap limit in force), then exits: for
  // operators and for test/binary/agent-arm64.test.ts. Runs before any module of the bundle.
  const banner = `if (process.env.DANDELION_BINARY_INFO === '1') { process.stdout.write(JSON.stringify({ ...${baked}, node: process.version, arch: process.arch, execArgv: process.execArgv, heapLimitMb: Math.round(require('node:v8').getHeapStatistics().heap_size_limit / 1048576) }) + '\\n'); process.exit(0); }`;
  const result = await esbuild.build({
    entryPoints: [path.join(ROOT, 'bin', 'dandelion.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    // A SEA's main script is CommonJS whose require() knows only builtins: everything else is bundled.
    format: 'cjs',
    // Short, but function names and stack traces stay readable in the journal.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    external: OPTIONAL_NATIVE,
    define: {
      __DANDELION_BUILD_INFO__: baked,
      __DANDELION_RELEASE_KEYS__: JSON.stringify(keysText),
      // version.ts reads build-info.json beside itself only when nothing is baked in: never here.
      'import.meta.url': JSON.stringify('file:///dandelion-binary/'),
    },
    banner: { js: banner },
    plugins: [agentOnly],
    metafile: true,
    logLevel: 'silent',
  });
  if (result.warnings.length > 0) {
    const text = await esbuild.formatMessages(result.warnings, { kind: 'warning' });
    fail(`esbuild warned; a binary must not depend on anything it cannot see:\n${text.join('\n')}`);
  }
  const inputs = Object.keys(result.metafile.inputs);
  const addons = inputs.filter((f) => f.endsWith('.node'));
  if (addons.length > 0) fail(`native addons in the bundle: ${addons.join(', ')}`);
  // Every require() left in the bundle must be a builtin or one of the optional modules above.
  const code = fs.readFileSync(outfile, 'utf8');
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  const unknown = [...new Set([...code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1]))]
    .filter((m) => !builtins.has(m) && !OPTIONAL_NATIVE.includes(m));
  if (unknown.length > 0) fail(`the bundle requires modules a SEA cannot load: ${unknown.join(', ')}`);
  const left = inputs.filter((f) => LEFT_OUT.some((role) => f.startsWith(`${role}/`)));
  if (left.length > 0) fail(`left-out roles leaked into the bundle: ${left.join(', ')}`);
  say(`bundle ${path.relative(ROOT, outfile)}: ${(code.length / 1024).toFixed(0)} KiB from ${inputs.length} modules`);
  return outfile;
}

/** pkg --sea for targets sharing one Node version, run by the x64 base of that version. */
function pkgSea(entry, names, bases, outDir) {
  const version = bases[names[0]].pin.version;
  const runner = bases['linux-x64'];
  if (!runner || runner.pin.version !== version || names.some((n) => bases[n].pin.version !== version)) {
    fail(`pkg targets ${names.join(', ')} and linux-x64 must pin the same Node version (pkg makes one SEA blob for all)`);
  }
  // pkg's SEA mode takes base binaries from $HOME/.pkg-cache/sea/node-vX-linux-ARCH/bin/node once a
  // "download" of node-vX-linux-ARCH.tar.gz is marked verified (.ok): put ours there; HOME is ours too.
  const home = path.join(WORK, 'pkg-home');
  const cache = path.join(home, '.pkg-cache', 'sea');
  const targets = [];
  for (const name of names) {
    const arch = name.replace(/^linux-/, '');
    const stem = `node-v${version}-linux-${arch}`;
    const bin = path.join(cache, stem, 'bin', 'node');
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    fs.rmSync(bin, { force: true });
    fs.linkSync(bases[name].stripped, bin); // pkg only reads it (copies it to the output, then injects)
    fs.writeFileSync(`${bin}.ok`, '');
    fs.writeFileSync(path.join(cache, `${stem}.tar.gz`), 'placeholder: the base binary is bin/node beside this; see docs/binaries.md\n');
    fs.writeFileSync(path.join(cache, `${stem}.tar.gz.ok`), '');
    targets.push({ nodeRange: `node${version}`, platform: 'linux', arch, output: path.join(outDir, `dandelion-agent-${name}`) });
  }
  say(`pkg --sea (Node ${version}) for ${names.join(', ')}`);
  const job = JSON.stringify({ entry, targets, execArgv: EXEC_ARGV });
  const out = run(runner.stripped, [path.join(ROOT, 'scripts', 'binaries', 'pkg-sea.cjs'), job], {
    cwd: ROOT,
    env: { ...process.env, HOME: home, PKG_CACHE_PATH: path.join(home, '.pkg-cache'), NODE_OPTIONS: '' },
  });
  for (const line of out.split('\n').filter(Boolean)) say(`  pkg: ${line.replace(/\x1b\[[0-9;]*m/g, '')}`);
  return Object.fromEntries(names.map((n, i) => [n, targets[i].output]));
}

/** Node's own SEA steps for a base pkg does not take (Node < 22): blob by the target node, then postject. */
async function nodeSea(entry, name, base, outDir) {
  const { pin, stripped } = base;
  const out = path.join(outDir, `dandelion-agent-${name}`);
  const blob = path.join(WORK, `sea-${name}.blob`);
  const config = path.join(WORK, `sea-${name}.json`);
  // Node 20.11's SEA has no execArgv: the heap cap for this target comes from NODE_OPTIONS (docs/binaries.md).
  fs.writeFileSync(config, JSON.stringify({ main: entry, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false }));
  say(`${name}: SEA blob by node ${pin.version} itself${pin.qemu ? ` under ${pin.qemu[0]}` : ''}`);
  const [cmd, ...pre] = pin.qemu ?? [stripped];
  run(cmd, [...(pin.qemu ? pre.concat(stripped) : pre), '--experimental-sea-config', config], { cwd: WORK, env: { ...process.env, NODE_OPTIONS: '' } });
  fs.copyFileSync(stripped, out);
  // LIEF (inside postject) warns that it cannot name the stripped binary's .note sections; harmless
  // (pkg hides the same line), so drop exactly that line and nothing else.
  const write = process.stderr.write;
  process.stderr.write = (chunk, ...rest) => (/^warning: Can't find string offset for section name '\.note/.test(String(chunk)) ? true : write.call(process.stderr, chunk, ...rest));
  try {
    await inject(out, 'NODE_SEA_BLOB', fs.readFileSync(blob), { sentinelFuse: SEA_FUSE });
  } finally {
    process.stderr.write = write;
  }
  return out;
}

async function main() {
  const wanted = process.argv.slice(2);
  // --base-node TARGET: only that checked, stripped base Node, its path printed last (the docker base image's Node).
  if (wanted[0] === '--base-node') {
    process.stdout.write(`${baseNode(wanted[1]).stripped}\n`);
    return;
  }
  const option = (name) => {
    const i = wanted.indexOf(name);
    if (i < 0) return undefined;
    const [, value] = wanted.splice(i, 2);
    if (value === undefined) fail(`${name} needs a value`);
    return value;
  };
  const keysText = releaseKeysText(option('--release-keys') ?? path.join(ROOT, 'release', 'release-keys.txt'));
  const version = option('--version');
  const outOption = option('--out');
  if ((version === undefined) !== (outOption === undefined)) fail('--version and --out go together (test binaries never replace dist/)');
  const names = wanted.length > 0 ? wanted : Object.keys(PINS);
  for (const n of names) if (!PINS[n]) fail(`unknown target ${n}; known: ${Object.keys(PINS).join(', ')}`);
  run('node', [path.join(ROOT, 'scripts', 'build-info.mjs')], { cwd: ROOT });
  const info = JSON.parse(fs.readFileSync(path.join(ROOT, 'build', 'build-info.json'), 'utf8'));
  if (version !== undefined) info.version = version;
  const outDir = outOption === undefined ? path.join(WORK, 'out') : path.resolve(outOption);
  fs.mkdirSync(outDir, { recursive: true });

  const bases = {};
  // pkg needs the x64 Node of the pkg targets' version to run.
  for (const n of new Set([...names, ...names.some((n) => PINS[n].sea === 'pkg') ? ['linux-x64'] : []])) bases[n] = baseNode(n);
  const entry = await bundle(info, outOption === undefined ? WORK : outDir, keysText);

  const built = {};
  const byVersion = new Map();
  for (const n of names.filter((n) => PINS[n].sea === 'pkg')) byVersion.set(PINS[n].version, [...(byVersion.get(PINS[n].version) ?? []), n]);
  for (const group of byVersion.values()) Object.assign(built, pkgSea(entry, group, bases, outDir));
  for (const n of names.filter((n) => PINS[n].sea === 'node')) built[n] = await nodeSea(entry, n, bases[n], outDir);
  if (outOption !== undefined) {
    for (const n of names) say(`${path.relative(ROOT, built[n])}: dandelion ${info.version} (${info.commit})`);
    return;
  }

  fs.mkdirSync(DIST, { recursive: true });
  const rows = [];
  for (const n of names) {
    const file = path.join(DIST, `dandelion-agent-${n}`);
    fs.chmodSync(built[n], 0o755);
    fs.renameSync(built[n], file);
    const size = fs.statSync(file).size;
    const baseSize = fs.statSync(bases[n].stripped).size;
    rows.push({ name: n, node: PINS[n].version, size, baseSize, ratio: size / baseSize });
  }
  const sums = fs.readdirSync(DIST).filter((f) => f.startsWith('dandelion-agent-')).sort()
    .map((f) => `${sha256(path.join(DIST, f))}  ${f}\n`).join('');
  fs.writeFileSync(path.join(DIST, 'SHA256SUMS'), sums);
  fs.writeFileSync(path.join(WORK, 'sizes.json'), `${JSON.stringify(rows, null, 2)}\n`);
  say(`dandelion ${info.version} (${info.commit}), heap cap ${HEAP_MB} MiB`);
  for (const r of rows) say(`dist/dandelion-agent-${r.name}: ${mib(r.size)} MiB (node ${r.node}; stripped base ${mib(r.baseSize)} MiB; ×${r.ratio.toFixed(3)})`);
  const big = rows.filter((r) => r.ratio > MAX_RATIO);
  if (big.length > 0) fail(`over ${MAX_RATIO} × the stripped base: ${big.map((r) => r.name).join(', ')}`);
}

await main();
