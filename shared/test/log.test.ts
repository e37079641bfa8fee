// The root logger: one JSON line per event with the level's name, the role, the pid and an ISO time;
// levels below the configured one are dropped; children bind their module name.
import { Writable } from 'node:stream';
import t from 'tap';
import { createLogger, silentLogger } from '../src/log.js';

function collector(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { stream, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

t.test('JSON lines with level name, role, pid and ISO time; lower levels dropped', async (t) => {
  const out = collector();
  const log = createLogger({ level: 'info', role: 'agent', destination: out.stream });
  log.debug('not written');
  log.info({ box: 'box-1' }, 'exchange sent');
  log.child({ mod: 'sweep' }).warn('disk nearly full');
  const lines = out.lines();
  t.equal(lines.length, 2, 'debug dropped at info');
  t.match(lines[0], { level: 'info', role: 'agent', pid: process.pid, box: 'box-1', msg: 'exchange sent' });
  t.ok(!Number.isNaN(Date.parse(lines[0]?.time as string)) && /Z$/.test(lines[0]?.time as string), 'ISO time');
  t.match(lines[1], { level: 'warn', mod: 'sweep', role: 'agent', msg: 'disk nearly full' });
});

t.test('the level is the configured one', async (t) => {
  const out = collector();
  const log = createLogger({ level: 'debug', role: 'entrance', destination: out.stream });
  log.debug('written');
  t.equal(out.lines()[0]?.level, 'debug');
  t.equal(log.level, 'debug');
});

t.test('silentLogger writes nothing at any level', async (t) => {
  const log = silentLogger();
  t.equal(log.level, 'silent');
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const) t.notOk(log.isLevelEnabled(level), `${level} off`);
});
