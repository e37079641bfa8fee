// Lua scripts become typed methods of the client: defined once per client (again on the same client is
// harmless), runnable at once, with keys and arguments as declared.
import t from 'tap';
import { defineScripts } from '../src/redis-scripts.js';
import { startRedis } from '../../test/helpers/redis.js';

interface CounterScripts {
  testAddTo(key: string, by: number): Promise<number>;
  testCountKeys(numKeys: number, ...keys: string[]): Promise<number>;
}

const SCRIPTS = {
  testAddTo: { numberOfKeys: 1, lua: "return redis.call('INCRBY', KEYS[1], ARGV[1])" },
  testCountKeys: { lua: 'return #KEYS' },
};

t.test('scripts run as methods, with a fixed or a passed number of keys', async (t) => {
  const redis = (await startRedis(t)).client();
  const scripted = defineScripts<CounterScripts>(redis, SCRIPTS);
  t.equal(await scripted.testAddTo('n', 2), 2);
  t.equal(await scripted.testAddTo('n', 3), 5);
  t.equal(await scripted.testCountKeys(3, 'a', 'b', 'c'), 3, 'the key count passed first');
  t.equal(scripted, redis, 'the same client, typed with its scripts');
});

t.test('defining the same scripts twice on one client keeps one definition', async (t) => {
  const redis = (await startRedis(t)).client();
  const first = defineScripts<CounterScripts>(redis, SCRIPTS);
  const method = first.testAddTo;
  const second = defineScripts<CounterScripts>(redis, SCRIPTS);
  t.equal(second.testAddTo, method, 'not redefined');
  t.equal(await second.testAddTo('m', 7), 7);
});
