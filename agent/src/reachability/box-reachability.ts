/**
 * What the port mapper's state means for the rest of the box: the EXCHANGE's LAN_IP, PORT_MAPPING,
 * PORT_MAPPING_ERROR and ROUTER_EXTERNAL_IP, and the household's sentence before the entrance has a
 * verdict (the router refused or offers no mapping).
 */
import net from 'node:net';
import { reachabilityAdvice } from '../../../shared/src/reachability-advice.js';
import type { BoxReachability } from '../heartbeat/exchange.js';
import type { PortMappingState } from './port-mapper.js';

/** The EXCHANGE fields; `entranceSocketIp` is the box's own address on its entrance socket, the best LAN_IP there is. */
export function reachabilityFields(state: PortMappingState, entranceSocketIp: string | undefined): BoxReachability {
  const fields: BoxReachability = { PORT_MAPPING: state.method };
  const lanIp = entranceSocketIp ?? state.lanIp;
  if (lanIp !== undefined && net.isIP(lanIp) !== 0) fields.LAN_IP = lanIp;
  if (state.method === 'failed') fields.PORT_MAPPING_ERROR = state.error;
  if (state.method !== 'off' && state.method !== 'none') fields.ROUTER_EXTERNAL_IP = state.routerExternalIp;
  return fields;
}

/** The box's own sentence: only when the router could not map the ports ('' otherwise: the entrance's verdict says the rest). */
export function localAdvice(state: PortMappingState, ports: readonly number[]): string {
  if (state.method !== 'none' && state.method !== 'failed') return '';
  return reachabilityAdvice({ verdict: 'forward-port', mapping: state.method, ...(state.lanIp ? { lanIp: state.lanIp } : {}), ports });
}

/** A box that binds loopback only cannot be reached from outside whatever the router does: nothing to map. */
export function bindsLoopbackOnly(serverIp: string): boolean {
  return serverIp === 'localhost' || serverIp === '::1' || serverIp.startsWith('127.');
}
