/**
 * One DNS query → one authoritative answer for BOX_DOMAIN, no recursion. The zone holds SOA and NS at the
 * apex, A/AAAA for `<box-id>.<BOX_DOMAIN>` (a registered box's address) and TXT for
 * `_acme-challenge.<box-id>.<BOX_DOMAIN>` while an ACME order runs; any other zone is REFUSED.
 *
 * The query is untrusted bytes from anyone: it is checked from its fixed 12-byte header before the
 * decoder runs, so work per packet stays bounded (exactly one question, no answer sections, at most one
 * additional record, the EDNS OPT); a malformed query gets FORMERR and a packet that is not a query at
 * all (too short, a response) gets nothing, so the server is never used to bounce packets at a third party.
 */
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { Answer, Question } from 'dns-packet';
import { isDnsLabel } from '../../../shared/src/box-name.js';
import type { ZoneRecords } from './box-records.js';

/** Seconds resolvers may keep an answer: a box's new address is seen a minute after its heartbeat. */
export const RECORD_TTL_SECONDS = 60;
/** The TXT answer: short, since it lives only while an order is validated. */
export const CHALLENGE_TTL_SECONDS = 10;
/** Largest query read; a query is one question, so anything near this is not a query. */
export const MAX_QUERY_BYTES = 4096;

const HEADER_BYTES = 12;
const QR_BIT = 0x8000;
const OPCODE_MASK = 0x7800;
const RD_BIT = 0x0100;
const OPCODE_QUERY = 0;
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
type RcodeValue = (typeof Rcode)[keyof typeof Rcode];

const CHALLENGE_LABEL = '_acme-challenge';

export interface Zone {
  /** BOX_DOMAIN, lowercase. */
  domain: string;
  /** The name server the apex's NS and SOA name (zoneNameServer). */
  nameServer: string;
  records: ZoneRecords;
}

/**
 * The zone's name server: the entrance's own host name from ENTRANCE_URL when it has one outside the zone
 * (resolvers find its address through ordinary DNS, no glue needed), else `ns.<BOX_DOMAIN>`, which the
 * parent zone must delegate with a glue record holding the entrance's address. Box IDs all start with
 * `box-`, so no box is ever called `ns`.
 */
export function zoneNameServer(domain: string, entranceUrl: string | undefined): string {
  let host = '';
  try {
    host = entranceUrl === undefined ? '' : new URL(entranceUrl).hostname.toLowerCase();
  } catch {
    host = '';
  }
  const isName = host !== '' && net.isIP(host.replace(/^\[|\]$/g, '')) === 0 && host.includes('.');
  return isName && host !== domain && !host.endsWith(`.${domain}`) ? host : `ns.${domain}`;
}

/** The reply to `query`, or undefined when it gets none (not a query). */
export async function answerQuery(query: Buffer, zone: Zone): Promise<Buffer | undefined> {
  if (query.length < HEADER_BYTES || query.length > MAX_QUERY_BYTES) return undefined;
  const flags = query.readUInt16BE(2);
  if ((flags & QR_BIT) !== 0) return undefined;
  if ((flags & OPCODE_MASK) >> 11 !== OPCODE_QUERY) return headerOnly(query, Rcode.NOTIMP);
  const [questions, answers, authorities, additionals] = [4, 6, 8, 10].map((at) => query.readUInt16BE(at));
  if (questions !== 1 || answers !== 0 || authorities !== 0 || (additionals ?? 0) > 1) return headerOnly(query, Rcode.FORMERR);
  let question: Question | undefined;
  try {
    question = dnsPacket.decode(query).questions?.[0];
  } catch {
    return headerOnly(query, Rcode.FORMERR);
  }
  if (question === undefined) return headerOnly(query, Rcode.FORMERR);
  const { rcode, answers: found, authorities: authority } = await resolve(question, zone);
  return dnsPacket.encode({
    type: 'response',
    id: query.readUInt16BE(0),
    // Authoritative; RD echoed as RFC 1035 asks; RA never set: no recursion here.
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (flags & RD_BIT) | rcode,
    questions: [question],
    answers: found,
    authorities: authority,
  });
}

/** A reply with the query's ID and flags and no sections: for queries that cannot be answered further. */
export function headerOnly(query: Buffer, rcode: RcodeValue): Buffer {
  const reply = Buffer.alloc(HEADER_BYTES);
  query.copy(reply, 0, 0, 2);
  reply.writeUInt16BE(QR_BIT | (query.readUInt16BE(2) & (OPCODE_MASK | RD_BIT)) | rcode, 2);
  return reply;
}

/** The same reply with its sections dropped and TC set: it did not fit a UDP datagram, ask again over TCP. */
export function truncated(reply: Buffer): Buffer {
  const out = Buffer.from(reply.subarray(0, HEADER_BYTES));
  out.writeUInt16BE(out.readUInt16BE(2) | dnsPacket.TRUNCATED_RESPONSE, 2);
  out.fill(0, 4);
  return out;
}

interface Resolution {
  rcode: RcodeValue;
  answers: Answer[];
  authorities: Answer[];
}

async function resolve(question: Question, zone: Zone): Promise<Resolution> {
  // Wrong class (CHAOS version.bind and the like): this server holds only an IN zone.
  if (question.class !== undefined && question.class !== 'IN' && question.class !== 'ANY') return { rcode: Rcode.REFUSED, answers: [], authorities: [] };
  const name = question.name.toLowerCase().replace(/\.$/, '');
  const { domain } = zone;
  if (name !== domain && !name.endsWith(`.${domain}`)) return { rcode: Rcode.REFUSED, answers: [], authorities: [] };
  const labels = name === domain ? [] : name.slice(0, -domain.length - 1).split('.');
  const zoneSoa = soa(domain, zone.nameServer);
  const nodata: Resolution = { rcode: Rcode.NOERROR, answers: [], authorities: [zoneSoa] };
  const nxdomain: Resolution = { rcode: Rcode.NXDOMAIN, answers: [], authorities: [zoneSoa] };
  // The typings leave ANY out of RecordType, though the decoder gives it.
  const asked: string = question.type;
  const wants = (type: string): boolean => asked === type || asked === 'ANY';
  const [first, second] = labels;
  if (first === undefined) {
    const apex: Answer[] = [];
    if (wants('SOA')) apex.push(zoneSoa);
    if (wants('NS')) apex.push({ type: 'NS', name: domain, ttl: RECORD_TTL_SECONDS, data: zone.nameServer });
    return apex.length > 0 ? { rcode: Rcode.NOERROR, answers: apex, authorities: [] } : nodata;
  }
  if (labels.length === 1 && isDnsLabel(first)) {
    const address = await zone.records.addressOf(first);
    if (address === undefined) return nxdomain;
    const type = net.isIPv4(address) ? 'A' : 'AAAA';
    if (!wants(type)) return nodata;
    return { rcode: Rcode.NOERROR, answers: [{ type, name, ttl: RECORD_TTL_SECONDS, data: address }], authorities: [] };
  }
  if (labels.length === 2 && first === CHALLENGE_LABEL && second !== undefined && isDnsLabel(second)) {
    const values = await zone.records.challengeValues(`${second}.${domain}`);
    if (values.length === 0) return nxdomain;
    if (!wants('TXT')) return nodata;
    return { rcode: Rcode.NOERROR, answers: values.map((data) => ({ type: 'TXT', name, ttl: CHALLENGE_TTL_SECONDS, data })), authorities: [] };
  }
  return nxdomain;
}

function soa(domain: string, nameServer: string): Answer {
  return {
    type: 'SOA',
    name: domain,
    ttl: RECORD_TTL_SECONDS,
    data: {
      mname: nameServer,
      rname: `hostmaster.${domain}`,
      // Records come and go with heartbeats; no secondary copies the zone, so the serial only has to grow.
      serial: Math.floor(Date.now() / 1000) >>> 0,
      refresh: 3600,
      retry: 600,
      expire: 86_400,
      // The negative-answer TTL (RFC 2308): a box that registers is found within a minute.
      minimum: RECORD_TTL_SECONDS,
    },
  };
}
