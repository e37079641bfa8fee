/**
 * `dandelion <command>`: one executable for every role. Each role's main() runs in this process (the
 * shell launcher execs node), so signals reach it directly. Only what --version needs is imported up
 * front; the rest (the CLI's config loader, YAML, the schemas) loads with the command that uses it, which
 * keeps the standalone binary's start-up short on a Pi (bench binary).
 */
import type { Role } from '../shared/src/config/schemas.js';
import { buildInfo } from '../shared/src/version.js';

const HELP = (exitCodesHelp: string): string => `Usage: dandelion <command> [options]

Dandelion turns idle household upload bandwidth into a CDN for live streaming.

Commands:
  entrance               run an entrance (registry of boxes, SEARCH for publishers)
  agent                  run a box agent
  publisher              run a publisher (the streamer's uploader)
  demo                   run a Dandelion network on this machine (loopback only)
  bench [NAME…]          run the benchmarks against references measured in the same run
                         (--smoke: tiny sizes; see bench/README.md)
  soak                   simulated boxes heartbeat to several entrances for minutes
                         (dropped heartbeats, latency, memory per box; docs/scale.md)
  hash-password          read a password or token on stdin, print its hash (for
                         DASHBOARD_USERS, API_TOKENS, METRICS_TOKEN)
  config example ROLE…   print an example config with every key and its default
                         (ROLE: entrance, agent, publisher, provision)
  provision sdcard|show|env  write or read a box's dandelion.yaml on an SD image or card
                         (provisioning/README.md)
  release keygen|sign|verify  make a release key, sign an agent binary, check a signed
                         release (docs/updates.md)

Run 'dandelion <command> --help' for a command's options.

Options:
  -h, --help     this text
  -v, --version  print the version and commit

${exitCodesHelp}
`;

type CommandMain = (args: string[]) => Promise<void>;

const COMMANDS: Record<string, () => Promise<CommandMain>> = {
  entrance: async () => (await import('../entrance/src/main.js')).main,
  agent: async () => (await import('../agent/src/main.js')).main,
  publisher: async () => (await import('../publisher/src/main.js')).main,
  demo: async () => (await import('../demo/src/main.js')).main,
  bench: async () => (await import(['..', 'bench', 'src', 'index.js'].join('/'))).main, // computed: the box binary's bundle leaves bench out
  soak: async () => (await import(['..', 'bench', 'src', 'soak', 'main.js'].join('/'))).main,
  config: async () => configCommand,
  'hash-password': async () => hashPasswordCommand,
  provision: async () => (await import('../provisioning/src/main.js')).main,
  release: async () => (await import('../shared/src/release/command.js')).main,
};

async function configCommand(args: string[]): Promise<void> {
  const { UsageError, parseRoleArgs } = await import('../shared/src/cli.js');
  const { renderExample, spliceConfigTables } = await import('../shared/src/config/example.js');
  const { SCHEMAS } = await import('../shared/src/config/schemas.js');
  const { readFileSync, writeFileSync } = await import('node:fs');
  const opts = parseRoleArgs(args);
  const [sub, ...roles] = opts.positionals;
  if (opts.help || sub === undefined) {
    process.stdout.write('Usage: dandelion config example ROLE…   (ROLE: entrance, agent, publisher)\n');
    if (sub === undefined && !opts.help) throw new UsageError('config: missing subcommand');
    return;
  }
  if (sub === 'readme') {
    // Maintainer tool: refresh the config tables between <!-- config:ROLE --> markers of a Markdown file.
    const file = roles[0];
    if (file === undefined) throw new UsageError('config readme: name the Markdown file');
    writeFileSync(file, spliceConfigTables(readFileSync(file, 'utf8')));
    return;
  }
  if (sub !== 'example') throw new UsageError(`config: unknown subcommand ${sub}`);
  if (roles.length === 0) throw new UsageError('config example: name at least one ROLE');
  for (const role of roles) if (!(role in SCHEMAS)) throw new UsageError(`config example: unknown ROLE ${role}`);
  process.stdout.write(renderExample(roles as Role[]));
}

/** The first line of stdin, hashed; the secret never appears in argv or the shell's history. */
async function hashPasswordCommand(args: string[]): Promise<void> {
  const { UsageError, parseRoleArgs } = await import('../shared/src/cli.js');
  const { hashPassword } = await import('../shared/src/password.js');
  const opts = parseRoleArgs(args);
  if (opts.help) {
    process.stdout.write('Usage: echo -n SECRET | dandelion hash-password\nPrints the scrypt hash of the first line of standard input.\n');
    return;
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const secret = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (secret.length < 8) throw new UsageError('hash-password: give a password or token of at least 8 characters on standard input');
  process.stdout.write(`${await hashPassword(secret)}\n`);
}

async function run(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === '-v' || command === 'version') {
    const info = buildInfo();
    process.stdout.write(`dandelion ${info.version} (${info.commit})\n`);
    return;
  }
  const { EXIT_CODES_HELP, UsageError } = await import('../shared/src/cli.js');
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP(EXIT_CODES_HELP));
    if (command === undefined) process.exitCode = 2;
    return;
  }
  const load = COMMANDS[command];
  if (!load) throw new UsageError(`unknown command ${command}`);
  await (await load())(rest);
}

run(process.argv.slice(2)).catch(async (err: unknown) => {
  const { exitFor } = await import('../shared/src/cli.js');
  const { code, message } = exitFor(err);
  process.stderr.write(`dandelion: ${message}\n`);
  process.exit(code);
});
