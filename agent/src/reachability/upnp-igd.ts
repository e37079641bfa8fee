/**
 * A UPnP Internet Gateway Device client for TCP mappings: the WAN connection service's control URL read
 * from the root description, then SOAP actions (AddPortMapping, AddAnyPortMapping when the wanted port
 * is taken on an IGD v2, GetSpecificPortMappingEntry, DeletePortMapping, GetExternalIPAddress). The npm
 * package speaks IGD v2 only, deletes by the internal port and lets its mapping list grow with every
 * renewal, so the few requests are written here.
 */
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
    try {
      await this.add('AddPortMapping', r, r.leaseSeconds);
      return { externalPort: r.externalPort, leaseSeconds: r.leaseSeconds };
    } catch (err) {
      // 725: the router keeps only permanent mappings (removed on SIGTERM all the same).
      if (err instanceof UpnpFault && err.code === 725) return this.map({ ...r, leaseSeconds: 0 });
      // 718: the wanted port is someone else's; an IGD v2 picks a free one.
      if (!(err instanceof UpnpFault) || err.code !== 718 || !this.service.serviceType.endsWith(':2')) throw err;
      const port = Number(tagText(await this.add('AddAnyPortMapping', r, r.leaseSeconds), 'NewReservedPort'));
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RouterRefusal('AddAnyPortMapping gave no port');
      return { externalPort: port, leaseSeconds: r.leaseSeconds };
    }
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

  private add(action: string, r: MappingRequest, lease: number): Promise<string> {
    return this.call(action, [
      ['NewRemoteHost', ''], ['NewExternalPort', String(r.externalPort)], ['NewProtocol', 'TCP'],
      ['NewInternalPort', String(r.internalPort)], ['NewInternalClient', r.internalHost], ['NewEnabled', '1'],
      ['NewPortMappingDescription', DESCRIPTION], ['NewLeaseDuration', String(lease)],
    ]);
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
async function fetchText(url: URL, init: RequestInit): Promise<string> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), redirect: 'error' });
  } catch (err) {
    throw new RouterSilent(`UPnP: no answer from ${url.host}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const text = await res.text();
  if (text.length > MAX_BODY_CHARS) throw new RouterRefusal(`UPnP: answer of ${text.length} characters from ${url.host}`);
  const fault = upnpErrorOf(text);
  if (fault) throw new UpnpFault(fault.code, fault.text);
  if (!res.ok) throw new RouterRefusal(`UPnP: HTTP ${res.status} from ${url.host}`);
  return text;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
