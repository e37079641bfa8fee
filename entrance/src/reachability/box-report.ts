/**
 * What a box reports of its home network, read from its decoded EXCHANGE: LAN_IP, PORT_MAPPING,
 * PORT_MAPPING_ERROR and ROUTER_EXTERNAL_IP (sent by agents that map their ports; absent from the
 * original's boxes and older agents). The codec already refused what a field cannot hold (an address
 * that is not one, an unknown method, a long or control-laden error), so here the addresses are only
 * normalised (an IPv4-mapped address as IPv4, IPv6 in lower case) to compare with the socket's peer.
 */
import { normaliseIp } from '../../../shared/src/peer-address.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import type { BoxReport } from './verdict.js';

export function boxReportOf(msg: BoxExchange): BoxReport {
  const report: BoxReport = {};
  if (msg.LAN_IP) report.lanIp = normaliseIp(msg.LAN_IP);
  if (msg.PORT_MAPPING !== undefined) report.portMapping = msg.PORT_MAPPING;
  const error = msg.PORT_MAPPING_ERROR?.trim();
  if (error) report.portMappingError = error;
  // '' is the router saying it has no external address (carrier-grade NAT): kept, unlike an absent field.
  if (msg.ROUTER_EXTERNAL_IP !== undefined) report.routerExternalIp = msg.ROUTER_EXTERNAL_IP === '' ? '' : normaliseIp(msg.ROUTER_EXTERNAL_IP);
  return report;
}
