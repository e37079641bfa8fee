// `dandelion entrance` as a process: --help, config errors naming the key (exit 2), the index page,
// and SIGTERM closing peers with 1001 and exiting 0.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { startRedis } from '../../test/helpers/redis.js';
import { connectPeer } from '../../test/helpers/ws-client.js';
import { boxExchange } from '../../test/helpers/messages.js';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/dandelion');

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(BIN, args, { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

t.test('--help and usage errors', async (t) => {
  const help = await run(['entrance', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Usage: dandelion entrance/);
  t.match(help.stdout, /Exit codes:/);
  const top = await run(['--help']);
  t.equal(top.code, 0);
  t.match(top.stdout, /entrance/);
  const unknown = await run(['teleport']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command teleport/);
  const badFlag = await run(['entrance', '--colour']);
  t.equal(badFlag.code, 2);
  const version = await run(['--version']);
  t.equal(version.code, 0);
  t.match(version.stdout, /^dandelion \d+\.\d+\.\d+ \(/);
});

t.test('bad config exits 2 and names the key', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'ENTRANCE_PORT: 99999\nENTRANCE_EXPIRE_BOX_TIME: soon\nID: box-not-an-entrance\n');
  const res = await run(['entrance', '--config', file]);
  t.equal(res.code, 2);
  t.match(res.stderr, /ENTRANCE_PORT: must be between/);
  t.match(res.stderr, /ENTRANCE_EXPIRE_BOX_TIME: must be a number/);
  t.match(res.stderr, /ID: must look like entrance-/);
  const env = await run(['entrance'], { DANDELION_AMOUNT_OF_BOXES_PER_REQUEST: '0' });
  t.equal(env.code, 2);
  t.match(env.stderr, /AMOUNT_OF_BOXES_PER_REQUEST: .*\(from DANDELION_AMOUNT_OF_BOXES_PER_REQUEST\)/);
  const missing = await run(['entrance', '--config', path.join(dir, 'nope.yaml')]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /--config: cannot read/);
  const domain = await run(['entrance'], { DANDELION_BOX_DOMAIN: 'Boxes.Example.NET' });
  t.equal(domain.code, 2);
  t.match(domain.stderr, /BOX_DOMAIN: must be a DNS zone in lowercase/);
  writeFileSync(file, 'ENTRANCE_PORT: [1, 2\n');
  const yaml = await run(['entrance', '--config', file]);
  t.equal(yaml.code, 2);
  t.match(yaml.stderr, /not valid YAML/);
});

t.test('unreachable Redis exits 1 with the reason', async (t) => {
  const dir = t.testdir();
  const res = await run(['entrance'], { DANDELION_REDIS_URL: `unix://${dir}/none.sock`, DANDELION_RUN_DIRECTORY: dir, DANDELION_ENTRANCE_PORT: '0' });
  t.equal(res.code, 1);
  t.match(res.stderr, /cannot reach Redis/);
});

t.test('serves, then stops on SIGTERM with close code 1001 and exit 0', async (t) => {
  const redis = await startRedis(t);
  const dir = t.testdir();
  const file = path.join(dir, 'entrance.yaml');
  writeFileSync(file, `ENTRANCE_IP: 127.0.0.1\nENTRANCE_PORT: 0\nREDIS_URL: ${redis.url}\nRUN_DIRECTORY: ${dir}\nLOG_LEVEL: info\nREQUIRE_ENROLMENT: false\n`);
  const p = spawn(BIN, ['entrance', '--config', file]);
  let out = '';
  const listening = new Promise<string>((resolve) => {
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(ws:[^"]+)"/.exec(out);
      if (m) resolve(m[1] as string);
    });
  });
  const exited = new Promise<number | null>((resolve) => p.on('exit', (code) => resolve(code)));
  const url = await listening;
  for (const line of out.trim().split('\n')) t.doesNotThrow(() => JSON.parse(line), 'logs are JSON lines');

  const index = await fetch(url.replace('ws:', 'http:').replace(/ws\/$/, ''));
  t.equal(index.status, 200);
  const info = (await index.json()) as Record<string, unknown>;
  t.match(info.ID, /^entrance-/);
  t.equal(info.BOXES_ONLINE, 0);
  const html = await fetch(url.replace('ws:', 'http:').replace(/ws\/$/, ''), { headers: { accept: 'text/html' } });
  t.match(await html.text(), /<h1>Dandelion entrance<\/h1>/);

  const box = await connectPeer(url);
  t.equal((await box.ask(boxExchange('box-live'))).MESSAGE, 'ACCEPTED');
  p.kill('SIGTERM');
  t.equal((await box.closed).code, 1001, 'peers told the server is going away');
  t.equal(await exited, 0);
  t.match(out, /"msg":"stopped"/);
});

t.test('token and box commands', async (t) => {
  const redis = await startRedis(t);
  const dir = t.testdir();
  const file = path.join(dir, 'entrance.yaml');
  writeFileSync(file, `REDIS_URL: ${redis.url}\nRUN_DIRECTORY: ${dir}\n`);
  const created = await run(['entrance', 'token', 'create', '--config', file, '--expires', '30d', '--uses', '100', '--note', 'batch 7', '--json']);
  t.equal(created.code, 0, created.stderr);
  const token = JSON.parse(created.stdout) as { TOKEN: string; ID: string; MAX_USES: number; EXPIRES: number; CREATED: number };
  t.match(token.TOKEN, /^dlt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/, 'a fleet token');
  t.equal(token.MAX_USES, 100);
  t.equal(token.EXPIRES - token.CREATED, 30 * 86400, 'expires in 30 days');
  const plain = await run(['entrance', 'token', 'create', '--config', file]);
  t.match(plain.stdout, /^dlt_\S+\n# token [0-9a-f]{12}: 1 use\(s\)/, 'people get the token on its own line, then a note');
  const listed = await run(['entrance', 'token', 'list', '--config', file, '--json']);
  const tokens = (JSON.parse(listed.stdout) as { TOKENS: Array<Record<string, unknown>> }).TOKENS;
  t.equal(tokens.length, 2);
  t.notOk(listed.stdout.includes(token.TOKEN.slice(17)), 'the secret is never listed');
  t.equal((await run(['entrance', 'token', 'revoke', token.ID, '--config', file])).code, 0);
  t.ok((JSON.parse((await run(['entrance', 'token', 'list', '--config', file, '--json'])).stdout) as { TOKENS: Array<{ ID: string; REVOKED: boolean }> }).TOKENS.find((x) => x.ID === token.ID)?.REVOKED, 'revoked');
  const badExpiry = await run(['entrance', 'token', 'create', '--config', file, '--expires', 'soon']);
  t.equal(badExpiry.code, 2);
  t.match(badExpiry.stderr, /--expires/);
  const badUses = await run(['entrance', 'token', 'create', '--config', file, '--uses', '0']);
  t.equal(badUses.code, 2);
  t.match(badUses.stderr, /--uses/);
  const unknownBox = await run(['entrance', 'box', 'revoke', 'box-nobody', '--config', file]);
  t.equal(unknownBox.code, 2);
  t.match(unknownBox.stderr, /never enrolled/);
  const notABox = await run(['entrance', 'box', 'revoke', 'publisher-x', '--config', file]);
  t.equal(notABox.code, 2);
  const unknownVerb = await run(['entrance', 'tokens', 'make', '--config', file]);
  t.equal(unknownVerb.code, 2);
});
