/**
 * An operator driving an entrance's rollouts through its /api, as the dashboard does: `api(route, body?)`
 * (GET without a body, POST with one; a 4xx or 5xx throws with the entrance's answer), `rollout()` (the
 * current rollout), and `rollOut(version)`, which starts a rollout to 100 % in one stage once the last one
 * has ended and resolves with the time it started.
 */
export interface RolloutApi {
  api(route: string, body?: unknown): Promise<Record<string, any>>;
  rollout(): Promise<Record<string, any>>;
  rollOut(version: string): Promise<number>;
}

/** `port()`: the entrance's HTTP port now (a test may put a proxy in front of it after this is made). */
export function rolloutApi(port: () => number, token: string, tick: () => Promise<unknown>): RolloutApi {
  const api = async (route: string, body?: unknown): Promise<Record<string, any>> => {
    const res = await fetch(`http://127.0.0.1:${port()}/api/${route}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = (await res.json()) as Record<string, any>;
    if (res.status >= 400) throw new Error(`${route}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const rollout = async (): Promise<Record<string, any>> => (await api('rollout')).ROLLOUT as Record<string, any>;
  const rollOut = async (version: string): Promise<number> => {
    // One rollout at a time: the last one ends (complete, or halted by its failure) a stage's second later.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await tick();
    const at = Date.now();
    await api('rollout', { VERSION: version, PERCENT: 100, STAGES: [100], STAGE_SECONDS: 1, HEARTBEAT_SECONDS: 600 });
    return at;
  };
  return { api, rollout, rollOut };
}
