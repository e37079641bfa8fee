/**
 * A UPnP Internet Gateway Device client for TCP mappings: the WAN connection service's control URL read
 * from the root description, then SOAP actions (AddPortMapping, AddAnyPortMapping when the wanted port
 * GetSpecificPortMappingEntry, DeletePortMapping, GetExternalIPAddress). The npm package speaks IGD v2
 * only, deletes by the internal port and lets its mapping list grow with every renewal, so the few
 * requests are written here. A port someone else holds is not left to AddAnyPortMapping: miniupnpd
 * answers it with any port this box does not hold *for the same internal port*, even one the box holds
 * for another, and silently moves that mapping; the next ports are tried instead, skipping the box's own.
 */
import { httpRequest } from '../../../shared/src/http-request.js';
import type { HttpReply } from '../../../shared/src/http-request.js';
import type { GrantedMapping, MappingRequest, RouterClient } from './router-client.js';
import { RouterRefusal, RouterSilent } from './router-client.js';

const SERVICE_TYPES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
];
const MAX_BODY_CHARS = 65_536;
const REQUEST_TIMEOUT_MS = 3_000;
const DESCRIPTION = 'dandelion box';
/** Other external ports tried when the wanted one is someone else's. */
const CONFLICT_TRIES = 16;

export interface WanService {
  serviceType: string;
  controlUrl: URL;
}

/** The best WAN connection service of a root description, its control URL made absolute. */
export function wanServiceOf(xml: string, location: URL): WanService | undefined {
  const base = tagText(xml, 'URLBase');
  const services = [...xml.matchAll(/<service>([\s\S]*?)<\/service>/g)].map((m) => m[1] ?? '');
  for (const wanted of SERVICE_TYPES) {
    const service = services.find((s) => tagText(s, 'serviceType') === wanted);
    const control = service === undefined ? undefined : tagText(service, 'controlURL');
    if (control === undefined) continue;
    try {
      return { serviceType: wanted, controlUrl: new URL(control, base ?? location) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

function tagText(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<(?:\\w+:)?${tag}>([^<]*)</(?:\\w+:)?${tag}>`).exec(xml);
  return m?.[1]?.trim();
}

/** A SOAP fault's UPnP error, as "UPnP error 718: ConflictInMappingEntry". */
export function upnpErrorOf(xml: string): { code: number; text: string } | undefined {
  const code = tagText(xml, 'errorCode');
  if (code === undefined) return undefined;
  return { code: Number(code), text: `UPnP error ${code}: ${tagText(xml, 'errorDescription') ?? 'no description'}` };
}

class UpnpFault extends RouterRefusal {
  constructor(readonly code: number, text: string) {
    super(text);
  }
}

export async function connectIgd(location: URL): Promise<UpnpIgdClient> {
  const xml = await fetchText(location, { method: 'GET' });
  const service = wanServiceOf(xml, location);
  if (service === undefined) throw new RouterSilent(`${location.href} describes no WAN connection service`);
  return new UpnpIgdClient(service, location);
}

export class UpnpIgdClient implements RouterClient {
  readonly method = 'upnp' as const;

  constructor(readonly service: WanService, readonly location: URL) {}

  async externalIp(): Promise<string> {
    return tagText(await this.call('GetExternalIPAddress', []), 'NewExternalIPAddress') ?? '';
  }

  async map(r: MappingRequest): Promise<GrantedMapping> {
    const avoid = new Set(r.avoidExternalPorts ?? []);
    const candidates = [r.externalPort, ...Array.from({ length: CONFLICT_TRIES }, (_, i) => r.externalPort + i + 1)].filter((p) => p <= 65535 && !avoid.has(p));
    let lastConflict: unknown;
    for (const externalPort of candidates) {
      try {
        return await this.add({ ...r, externalPort });
      } catch (err) {
        if (!(err instanceof UpnpFault) || err.code !== 718) throw err;
        lastConflict = err; // ConflictInMappingEntry: another host holds it
      }
    }
    throw lastConflict ?? new RouterRefusal(`no free external port from ${r.externalPort}`);
  }

  async unmap(m: { externalPort: number }): Promise<void> {
    await this.call('DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', String(m.externalPort)], ['NewProtocol', 'TCP']]);
  }

  async holds(m: { internalHost: string; internalPort: number; externalPort: number }): Promise<boolean> {
    try {
      const xml = await this.call('GetSpecificPortMappingEntry', [['NewRemoteHost', ''], ['NewExternalPort', String(m.externalPort)], ['NewProtocol', 'TCP']]);
      return tagText(xml, 'NewInternalClient') === m.internalHost && Number(tagText(xml, 'NewInternalPort')) === m.internalPort;
    } catch (err) {
      if (err instanceof UpnpFault && err.code === 714) return false; // NoSuchEntryInArray
      throw err;
    }
  }

  close(): void {
    // Each request is its own HTTP exchange: nothing stays open.
  }

  /** AddPortMapping with the lease asked, else permanent on a router that keeps only those (error 725). */
  private async add(r: MappingRequest): Promise<GrantedMapping> {
    try {
      await this.call('AddPortMapping', addArguments(r, r.leaseSeconds));
      return { externalPort: r.externalPort, leaseSeconds: r.leaseSeconds };
    } catch (err) {
      if (!(err instanceof UpnpFault) || err.code !== 725 || r.leaseSeconds === 0) throw err;
      await this.call('AddPortMapping', addArguments(r, 0));
      return { externalPort: r.externalPort, leaseSeconds: 0 };
    }
  }

  private async call(action: string, args: Array<[string, string]>): Promise<string> {
    const type = this.service.serviceType;
    const body = `<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:${action} xmlns:u="${type}">${args.map(([k, v]) => `<${k}>${escapeXml(v)}</${k}>`).join('')}</u:${action}></s:Body></s:Envelope>\r\n`;
    return fetchText(this.service.controlUrl, {
      method: 'POST', body,
      headers: { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: `"${type}#${action}"` },
    });
  }
}

/** One request to the router: its text, a UpnpFault for a SOAP fault, RouterSilent when it does not answer. */
async function fetchText(url: URL, init: { method: string; headers?: Record<string, string>; body?: string }): Promise<string> {
  let res: HttpReply;
  try {
    // Redirects are not followed (httpRequest never does): a router has no business sending one.
    res = await httpRequest(url, { ...init, timeoutMs: REQUEST_TIMEOUT_MS, maxBodyBytes: MAX_BODY_CHARS + 1 });
  } catch (err) {
    throw new RouterSilent(`UPnP: no answer from ${url.host}: ${err instanceof Error ? err.message : String(err)}`);
  }
  // fetch with redirect: 'error' took a redirect for no answer; so does this.
  if (res.status >= 300 && res.status < 400) throw new RouterSilent(`UPnP: ${url.host} redirects (HTTP ${res.status}); not followed`);
  const { text } = res;
  if (res.truncated) throw new RouterRefusal(`UPnP: answer of more than ${MAX_BODY_CHARS} bytes from ${url.host}`);
  const fault = upnpErrorOf(text);
  if (fault) throw new UpnpFault(fault.code, fault.text);
  if (!res.ok) throw new RouterRefusal(`UPnP: HTTP ${res.status} from ${url.host}`);
  return text;
}

function addArguments(r: MappingRequest, lease: number): Array<[string, string]> {
  return [
    ['NewRemoteHost', ''], ['NewExternalPort', String(r.externalPort)], ['NewProtocol', 'TCP'],
    ['NewInternalPort', String(r.internalPort)], ['NewInternalClient', r.internalHost], ['NewEnabled', '1'],
    ['NewPortMappingDescription', DESCRIPTION], ['NewLeaseDuration', String(lease)],
  ];
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
