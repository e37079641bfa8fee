// The one config loader: defaults, YAML, DANDELION_<KEY> overrides, REDIS_URL, every problem reported
// with its key, frozen results, and example files that match the schema.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { loadRoleConfig } from '../src/config/load.js';
import { renderExample, spliceConfigTables } from '../src/config/example.js';
import { ConfigError } from '../src/config/spec.js';
import { clusterNodeOf, redisOptionsOf } from '../src/redis.js';
import { SCHEMAS } from '../src/config/schemas.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

t.test('defaults, file and environment, in that order', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'c.yaml');
  writeFileSync(file, 'ENTRANCE_PORT: 8000\nENTRANCE_OTHER_URLS:\n  - wss://a/dandelion/ws/\nAMOUNT_OF_BOXES_PER_REQUEST: "30"\nMIN_HTTP_PEERS: 5\nFAVOURITE_COLOUR: blue\n');
  const { config, warnings } = loadRoleConfig('entrance', file, { DANDELION_ENTRANCE_PORT: '9000', DANDELION_TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8, fd00::/8' });
  t.equal(config.ENTRANCE_PORT, 9000, 'environment beats the file');
  t.equal(config.AMOUNT_OF_BOXES_PER_REQUEST, 30, 'numeric strings accepted');
  t.same(config.ENTRANCE_OTHER_URLS, ['wss://a/dandelion/ws/']);
  t.same(config.TRUSTED_PROXIES, ['127.0.0.1', '10.0.0.0/8', 'fd00::/8']);
  t.equal(config.ENTRANCE_EXPIRE_BOX_TIME, 120, 'default');
  t.same(warnings, ['unknown config key FAVOURITE_COLOUR ignored'], "another role's key (MIN_HTTP_PEERS) is no typo");
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.ENTRANCE_OTHER_URLS), 'frozen');
  const listEnv = loadRoleConfig('entrance', undefined, { DANDELION_ENTRANCE_OTHER_URLS: 'ws://a/x/, ws://b/y/' }).config;
  t.same(listEnv.ENTRANCE_OTHER_URLS, ['ws://a/x/', 'ws://b/y/'], 'comma lists from the environment');
  const jsonEnv = loadRoleConfig('entrance', undefined, { DANDELION_ENTRANCE_OTHER_URLS: '["ws://c/z/"]' }).config;
  t.same(jsonEnv.ENTRANCE_OTHER_URLS, ['ws://c/z/'], 'JSON lists from the environment');
});

t.test('every problem named by its key', async (t) => {
  const dir = t.testdir();
  const file = path.join(dir, 'c.yaml');
  writeFileSync(file, 'ENTRANCE_PORT: -1\nLOG_LEVEL: loud\nREDIS_URL: http://x\nENTRANCE_OTHER_URLS: ws://not-a-list/\nTRUSTED_PROXIES: [10.0.0.0/33]\n');
  try {
    loadRoleConfig('entrance', file, {});
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ConfigError);
    t.same((err as ConfigError).problems.map((p) => p.key).sort(), ['ENTRANCE_OTHER_URLS', 'ENTRANCE_PORT', 'LOG_LEVEL', 'REDIS_URL', 'TRUSTED_PROXIES']);
  }
  writeFileSync(file, '- just\n- a list\n');
  try {
    loadRoleConfig('entrance', file, {});
    t.fail('should throw');
  } catch (err) {
    t.same((err as ConfigError).problems.map((p) => p.key), ['--config'], 'a file that is no mapping');
  }
});

t.test('TRUST_PROXY is retired: true is refused, naming TRUSTED_PROXIES; false is only a warning', async (t) => {
  // The old boolean let any client choose its address through X-Forwarded-For. Its meaning cannot be
  // kept safely, so a config that still turns it on must stop the entrance, not quietly change meaning.
  const dir = t.testdir();
  const file = path.join(dir, 'c.yaml');
  for (const [yaml, env] of [['TRUST_PROXY: true\n', {}], ['', { DANDELION_TRUST_PROXY: 'yes' }], ['TRUST_PROXY: maybe\n', {}]] as const) {
    writeFileSync(file, yaml);
    const err = t.throws(() => loadRoleConfig('entrance', file, env)) as unknown;
    t.ok(err instanceof ConfigError, `${yaml.trim() || JSON.stringify(env)}: a config error`);
    t.same((err as ConfigError).problems.map((p) => p.key), ['TRUST_PROXY']);
    t.match((err as ConfigError).problems[0]?.reason, /replaced by TRUSTED_PROXIES/);
  }
  writeFileSync(file, 'TRUST_PROXY: false\n');
  const off = loadRoleConfig('entrance', file, {});
  t.same(off.config.TRUSTED_PROXIES, [], 'false meant "trust nobody", which is the default');
  t.match(off.warnings, [/TRUST_PROXY is gone/], 'a leftover false is worth a warning');
  t.notOk('TRUST_PROXY' in off.config);
  // The agent and the publisher never had the key (the original's shared config.yaml may still hold it).
  writeFileSync(file, 'TRUST_PROXY: true\n');
  t.same(loadRoleConfig('agent', file, {}).warnings, [], 'not the agent\'s key: neither refused nor reported');

  // The process itself: exit 2, the key named, the replacement told.
  writeFileSync(file, 'TRUST_PROXY: true\n');
  const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const p = spawn(path.join(ROOT, 'bin', 'dandelion'), ['entrance', '--config', file]);
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stderr }));
  });
  t.equal(run.code, 2);
  t.match(run.stderr, /TRUST_PROXY: was replaced by TRUSTED_PROXIES/);
});

t.test('REDIS_URL beside REDIS_HOST / REDIS_PORT / DB', async (t) => {
  const base = { REDIS_URL: undefined, REDIS_HOST: 'redis', REDIS_PORT: 6380, DB: 2 };
  t.match(redisOptionsOf(base), { host: 'redis', port: 6380, db: 2 });
  t.match(redisOptionsOf({ ...base, REDIS_URL: 'redis://:s3cret@10.1.2.3:6390/4' }), { host: '10.1.2.3', port: 6390, db: 4, password: 's3cret' });
  t.match(redisOptionsOf({ ...base, REDIS_URL: 'unix:///run/redis/redis.sock?db=3' }), { path: '/run/redis/redis.sock', db: 3 });
  t.ok(redisOptionsOf({ ...base, REDIS_URL: 'rediss://h:1/0' }).tls);
});

t.test('REDIS_CLUSTER_NODES: host:port items, a comma list in the environment, a clear error otherwise', async (t) => {
  const { config } = loadRoleConfig('entrance', undefined, { DANDELION_REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b:7001,[::1]:7002' });
  t.same(config.REDIS_CLUSTER_NODES, ['10.0.0.1:7000', 'redis-b:7001', '[::1]:7002']);
  t.same(loadRoleConfig('entrance', undefined, {}).config.REDIS_CLUSTER_NODES, [], 'empty by default: one Redis');
  for (const bad of ['10.0.0.1', 'redis-b:0', 'redis-b:70000', 'red is:7000']) {
    const err = t.throws(() => loadRoleConfig('entrance', undefined, { DANDELION_REDIS_CLUSTER_NODES: bad })) as unknown;
    t.ok(err instanceof ConfigError, `${bad}: a config error`);
    t.match((err as ConfigError).problems, [{ key: 'REDIS_CLUSTER_NODES', reason: /host:port/ }]);
  }
  t.same(clusterNodeOf('[::1]:7002'), { host: '::1', port: 7002 });
  t.same(clusterNodeOf('redis-b:7001'), { host: 'redis-b', port: 7001 });
});

t.test('the example config files are the schema rendered', async (t) => {
  t.equal(readFileSync(path.join(ROOT, 'entrance-config.yaml.example'), 'utf8'), renderExample(['entrance']), 'run `make examples`');
  t.equal(readFileSync(path.join(ROOT, 'config.yaml.example'), 'utf8'), renderExample(['agent', 'publisher']), 'run `make examples`');
  t.equal(readFileSync(path.join(ROOT, 'provisioning', 'dandelion.yaml.example'), 'utf8'), renderExample(['provision', 'agent']), 'run `make examples`');
  const parsed = loadRoleConfig('entrance', path.join(ROOT, 'entrance-config.yaml.example'), {});
  t.same(parsed.warnings, [], 'the example loads cleanly');
});

t.test('docs/config.md documents every key of every role', async (t) => {
  const doc = readFileSync(path.join(ROOT, 'docs', 'config.md'), 'utf8');
  t.equal(doc, spliceConfigTables(doc), 'run `make examples`');
  for (const role of ['entrance', 'agent', 'publisher', 'provision']) t.match(doc, `<!-- config:${role} -->\n| key | default | meaning |`);
  t.match(doc, '| `ENTRANCE_EXPIRE_BOX_TIME` | `120` |', 'a row with its default');
});

t.test('a key\'s description says what it does, not its history', async (t) => {
  // History (which keys the original had, what changed) lives in docs/compatibility.md, once.
  for (const [role, schema] of Object.entries(SCHEMAS)) {
    for (const [key, spec] of Object.entries(schema)) {
      t.notMatch(spec.doc, /new in this rewrite|\boriginal\b|\brewrite\b/i, `${role} ${key}`);
    }
  }
  const compatibility = readFileSync(path.join(ROOT, 'docs', 'compatibility.md'), 'utf8');
  t.match(compatibility, /^# Compatibility with the original/m);
  for (const key of ['REDIS_HOST', 'BASE_DIRECTORY', 'BOX_HTTP_PORT', 'BOX_SERVER_PROXY_PORT', 'ENTRANCE_SERVER_PROXY_PORT', 'TRUST_PROXY']) {
    t.match(compatibility, `\`${key}\``, `${key}'s change is told there`);
  }
});
