/**
 * What a box reports of its home network, read from its decoded EXCHANGE: LAN_IP, PORT_MAPPING,
 * PORT_MAPPING_ERROR and ROUTER_EXTERNAL_IP (sent by agents that map their ports; absent from the
 * original's boxes and older agents). The codec keeps them as unknown extra scalars, so each is checked
 * here: a value that is not what the field may hold is left out, as if the box had not sent it, and
 * the verdict then rests on the probes alone.
 */
import { normaliseIp } from '../../../shared/src/peer-address.js';
import type { BoxExchange } from '../../../shared/src/protocol/index.js';
import { PORT_MAPPINGS } from './verdict.js';
import type { BoxReport, PortMapping } from './verdict.js';

/** PORT_MAPPING_ERROR is shown to operators and households: a short line, not a log. */
const MAX_ERROR_CHARS = 200;

export function boxReportOf(msg: BoxExchange): BoxReport {
  const report: BoxReport = {};
  const lanIp = addressField(msg.LAN_IP);
  if (lanIp !== undefined && lanIp !== '') report.lanIp = lanIp;
  const mapping = msg.PORT_MAPPING;
  if (isPortMapping(mapping)) report.portMapping = mapping;
  if (typeof msg.PORT_MAPPING_ERROR === 'string' && msg.PORT_MAPPING_ERROR.trim() !== '') {
    report.portMappingError = printable(msg.PORT_MAPPING_ERROR).slice(0, MAX_ERROR_CHARS);
  }
  const external = addressField(msg.ROUTER_EXTERNAL_IP);
  if (external !== undefined) report.routerExternalIp = external;
  return report;
}

function isPortMapping(value: unknown): value is PortMapping {
  return typeof value === 'string' && (PORT_MAPPINGS as readonly string[]).includes(value);
}

/** An IP address normalised; '' for an empty string (the field sent, saying "none"); undefined for anything else. */
function addressField(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (value.trim() === '') return '';
  const ip = normaliseIp(value);
  return ip === '' ? undefined : ip;
}

/** Control characters out, so the text can go into a sentence, a log line or a page as it is. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}
