// With a real nginx writing LOG_FORMAT through the buffer the agent's config gives it, the tail counts
// exactly the requests nginx served, and a rotation by rename plus USR1 (what logrotate does) loses and
// repeats none of them: nginx writes its buffer out before it reopens. Responses with status ≥ 500 are
// counted (SERVE-ERRORS).
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { freePort } from '../../../shared/src/listen.js';
import { renderSite } from '../../src/nginx/config.js';
import { LOG_BUFFERING, LOG_FORMAT, LOG_FORMAT_NAME, parseAccessLogLine } from '../../src/traffic/log-format.js';
import { eventually, tailSetup } from './fixtures/access-lines.js';
import { NGINX, spawnNginx } from '../../../test/helpers/nginx-process.js';


interface Nginx {
  base: string;
  /** Sends a signal to nginx's master. */
  signal(name: NodeJS.Signals): void;
  /** True once every worker holds `file` open (workers reopen logs after the master, on its message). */
  workersWrite(file: string): boolean;
}

/** Child processes of `pid`, from /proc. */
function childrenOf(pid: number): number[] {
  const tasks = readdirSync(`/proc/${pid}/task`);
  return tasks.flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
}

function holdsOpen(pid: number, file: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === file;
      } catch {
        return false; // closed between the listing and the read
      }
    });
  } catch {
    return false;
  }
}

t.test('the tail counts what a real nginx served, across a rotation', { skip: !existsSync(NGINX) && `${NGINX} not installed` }, async (t) => {
  const s = await tailSetup(t);
  const segment = Buffer.alloc(5000, 7);
  mkdirSync(path.join(s.dir, 'files/publisher-abc/live'), { recursive: true });
  writeFileSync(path.join(s.dir, 'files/publisher-abc/live/seg-1.ts'), segment);
  const nginx = await startNginx(t, s.dir, s.logPath);
  const get = async (uri: string, headers: Record<string, string> = {}): Promise<number> => {
    const res = await fetch(`${nginx.base}${uri}`, { headers });
    await res.arrayBuffer(); // the request is over, so nginx logs it
    return res.status;
  };
  const logLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);
  const tail = s.tail();

  t.same(
    [await get('/publisher-abc/live/seg-1.ts'), await get('/publisher-abc/live/seg-1.ts?v=2'), await get('/publisher-abc/live/seg-1.ts', { range: 'bytes=0-99' }), await get('/publisher-abc/missing.ts')],
    [200, 200, 206, 404],
  );
  await eventually(async () => logLines(s.logPath).length === 4, 'nginx logged four requests');
  t.equal(await tail.pass(), 4);
  let state = await s.state();
  t.equal(state.recordKeys.length, 3, 'records for the three served requests');
  t.same(state.pending.map(({ ID, FROM, TO, ...a }) => a), [{ PUBLISHER: 'publisher-abc', FILE: 'live/seg-1.ts', REQUESTS: 3, BYTES: state.bytes }]);
  const sent = logLines(s.logPath).map((l) => parseAccessLogLine(l)?.bytes ?? NaN);
  t.equal(tail.bytesServedTotal(), sent.reduce((a, b) => a + b, 0), 'bytes sent as nginx logged them, 404 included');
  t.ok(state.bytes > 2 * segment.length + 100, 'bytes include headers');
  t.equal(tail.serverErrorsTotal(), 0, 'no status ≥ 500 yet (a 404 is the viewer\'s)');
  t.same([await get('/publisher-abc/broken/a.ts'), await get('/publisher-abc/failing/b.ts'), await get('/publisher-abc/broken/c.ts')], [502, 500, 502]);
  await eventually(async () => logLines(s.logPath).length === 7, 'nginx logged the failures');
  t.equal(await tail.pass(), 3);
  t.equal(tail.serverErrorsTotal(), 3, 'SERVE-ERRORS counts the responses with status ≥ 500 nginx served');

  // logrotate: rename, a request nginx still logs to the old file, USR1, requests in the new file.
  renameSync(s.logPath, `${s.logPath}.1`);
  t.equal(await get('/publisher-abc/live/seg-1.ts'), 200);
  await eventually(async () => logLines(`${s.logPath}.1`).length === 8, 'logged to the renamed file');
  nginx.signal('SIGUSR1');
  await eventually(async () => existsSync(s.logPath), 'nginx reopened its log');
  // The master makes the new file; until its worker reopens too, requests still go to the renamed one.
  await eventually(async () => nginx.workersWrite(s.logPath), 'the worker reopened its log');
  t.same([await get('/publisher-abc/live/seg-1.ts'), await get('/publisher-abc/live/seg-1.ts')], [200, 200]);
  await eventually(async () => logLines(s.logPath).length === 2, 'logged to the new file');
  t.equal(await tail.pass(), 3, 'one line from the renamed file, two from the new one');
  state = await s.state();
  t.equal(state.recordKeys.length, 6);
  t.equal(state.requests, 6);
  t.equal(tail.serverErrorsTotal(), 3, 'and no more across the rotation');
});

t.test('the generated config buffers the access log', async (t) => {
  const site = renderSite({
    boxId: 'box-n', listenIp: '127.0.0.1', httpPort: 8080, agentHost: '127.0.0.1', agentPort: 7071, baseDirectory: '/srv/files', accessLogPath: '/run/access.log',
    ratesByConnections: [1000], maxConnections: 10, statusDirectory: '/run/status',
  });
  t.match(site, `access_log "/run/access.log" ${LOG_FORMAT_NAME} buffer=64k flush=1s;`);
});

async function startNginx(t: { teardown(fn: () => unknown): void }, dir: string, accessLog: string): Promise<Nginx> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    // Running as root, workers would be "nobody" and could not read a test folder; as another user the
    // directive is ignored with a warning.
    const user = process.getuid?.() === 0 ? 'user root;' : '';
    writeFileSync(conf, `${user}
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 64; }
http {
  ${LOG_FORMAT}
  access_log ${accessLog} ${LOG_FORMAT_NAME} ${LOG_BUFFERING};
  client_body_temp_path ${dir}/tmp-body;
  proxy_temp_path ${dir}/tmp-proxy;
  fastcgi_temp_path ${dir}/tmp-fastcgi;
  uwsgi_temp_path ${dir}/tmp-uwsgi;
  scgi_temp_path ${dir}/tmp-scgi;
  server {
    listen 127.0.0.1:${port};
    root ${dir}/files;
    location = /ready { access_log off; return 204; }
    location /publisher-abc/broken/ { return 502; }
    location /publisher-abc/failing/ { return 500; }
  }
}
`);
    const { proc, stderr } = spawnNginx(t, dir, conf);
    const base = `http://127.0.0.1:${port}`;
    const up = await waitUntilUp(`${base}/ready`, () => proc.exitCode !== null);
    if (up) {
      const workersWrite = (file: string): boolean => {
        const workers = childrenOf(proc.pid as number);
        return workers.length > 0 && workers.every((pid) => holdsOpen(pid, file));
      };
      return { base, signal: (name) => proc.kill(name), workersWrite };
    }
    // Most likely the port was taken between freePort() and nginx's bind: try another one.
    if (attempt === 2) throw new Error(`nginx did not start: ${stderr()}${readFileSync(path.join(dir, 'error.log'), 'utf8')}`);
  }
}

async function waitUntilUp(url: string, dead: () => boolean): Promise<boolean> {
  for (let i = 0; i < 200 && !dead(); i++) {
    try {
      if ((await fetch(url)).status === 204) return true;
    } catch {
      /* intentional: not listening yet */
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return false;
}

