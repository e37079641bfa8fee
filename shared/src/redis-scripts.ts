/**
 * Lua scripts as typed client methods. ioredis's defineCommand adds a method per script at run time
 * (sent as EVALSHA, with the script itself only when Redis has not seen it), which its types cannot
 * know; `defineScripts` defines them once per client and hands back the client typed with them, after
 * checking that every method is there.
 */
import type { Redis } from 'ioredis';
import { keyLayoutOfClient } from './redis.js';

export interface ScriptDefinition {
  lua: string;
  /** Leading arguments that are keys; omitted when the caller passes the count first. */
  numberOfKeys?: number;
}

/** `T` names each script's method and signature; `scripts` holds their Lua under the same names. */
export function defineScripts<T extends object>(redis: Redis, scripts: { readonly [K in keyof T & string]: ScriptDefinition }): Redis & T {
  for (const [name, definition] of Object.entries<ScriptDefinition>(scripts)) {
    if (hasMethod(redis, name)) continue;
    redis.defineCommand(name, definition);
    // ioredis's auto-pipelining on a cluster groups a command by its first argument, taken for its key: a
    // script called with its key count first would be grouped by that number and refused with the node's
    // other commands. Sent on its own, it is routed by its real keys.
    if (definition.numberOfKeys === undefined && keyLayoutOfClient(redis) === 'cluster') redis.options.autoPipeliningIgnoredCommands?.push(name);
  }
  if (!hasScripts<T>(redis, Object.keys(scripts))) throw new Error(`redis client lacks scripts ${Object.keys(scripts).join(', ')}`);
  return redis;
}

function hasMethod(redis: Redis, name: string): boolean {
  return typeof Reflect.get(redis, name) === 'function';
}

function hasScripts<T extends object>(redis: Redis, names: readonly string[]): redis is Redis & T {
  return names.every((name) => hasMethod(redis, name));
}
