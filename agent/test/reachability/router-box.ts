/**
 * The box side of the real-router test (miniupnpd.test.ts), run inside the box's network namespace:
 * a PortMapper with the agent's defaults (default route, NAT-PMP then UPnP), stopped through the
 * agent's own signal trap. Each state change is one JSON line on stdout.
 */
import { trapSignals } from '../../../shared/src/lifecycle.js';
import { createLogger } from '../../../shared/src/log.js';
import { PortMapper } from '../../src/reachability/port-mapper.js';

const log = createLogger({ level: 'warn', role: 'agent' });
const mapper = new PortMapper({
  mode: 'auto',
  ports: () => [7072, 7071],
  checkEveryMs: 1_000,
  log,
  onChange: (s) => process.stdout.write(`${JSON.stringify({ state: { ...s, external: [...s.external] } })}\n`),
});
trapSignals(() => mapper.stop(), log);
await mapper.start();
process.stdout.write(`${JSON.stringify({ started: true })}\n`);
// The mapper's own timers do not keep a process alive (the agent's servers do); this stands in for them until SIGTERM.
setInterval(() => undefined, 60_000);
