// The tc commands of the viewer shaping (the real tc runs in the sealed lab: test/lab/tc-shaper.test.ts).
import t from 'tap';
import { rateArgs, setupCommands } from '../../src/bandwidth/uplink/tc-shaper.js';

t.test('the commands: everything else in the default class, the viewer ports of both families in the paced one', async (t) => {
  const cmds = setupCommands('eth0', [7072, 7073], 12.5).map((c) => c.join(' '));
  t.match(cmds[0], /^qdisc add dev eth0 root handle 1: htb default 20$/);
  t.match(cmds[1], /classid 1:10 htb rate 10gbit ceil 10gbit/);
  t.match(cmds[2], /classid 1:20 htb rate 10gbit ceil 10gbit/);
  t.match(cmds[3], /parent 1:10 handle 10: tbf rate 12500000bit burst 3028 limit 262144$/);
  t.equal(cmds.filter((c) => c.includes('match ip sport 7073 0xffff flowid 1:10')).length, 1);
  t.equal(cmds.filter((c) => c.includes('match ip6 sport 7072 0xffff flowid 1:10')).length, 1);
  t.same(rateArgs(0.001).slice(0, 3), ['tbf', 'rate', '8000bit'], 'never a zero rate');
});
