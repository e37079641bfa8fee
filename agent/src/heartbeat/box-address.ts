/**
 * Where others reach this box: the address publishers and viewers use (BOX_CLIENT_IP, else the public
 * address the entrance reported, else the bind address), the ports (known once bound), and the URLs
 * built from them. The envelope of every message the box sends carries them. When the home router mapped
 * a port to another external port, the URLs carry the external one while nginx and the agent keep
 * binding the internal one. HTTPS_URL names the box by the name its certificate holds (browsers check the
 * name, not the address), once one is served.
 */
import { connectHostFor, hostPort } from '../../../shared/src/bind-address.js';
import type { Envelope } from '../../../shared/src/protocol/index.js';
import { boxHttpUrl } from '../../../shared/src/viewer-url.js';

export interface BoxAddressOptions {
  boxId: string;
  /** BOX_CLIENT_IP: the address set by the operator ('' when none). */
  fixedIp: string;
  /** BOX_SERVER_IP: the bind address, the last resort. */
  serverIp: string;
  boxPort: number;
  httpPort: number;
  /** BOX_HTTPS_PORT (0: picked at start). */
  httpsPort?: number;
}

export class BoxAddress {
  /** The publishers' WebSocket port (BOX_PORT, or the one picked for 0). */
  boxPort: number;
  /** nginx's viewer port (BOX_HTTP_PORT, or the one picked for 0). */
  httpPort: number;
  /** nginx's HTTPS port (BOX_HTTPS_PORT, or the one picked for 0). */
  httpsPort: number;
  /** The name of the certificate nginx serves on httpsPort; undefined while it serves none. */
  httpsName: string | undefined;
  private publicIp: string | undefined;
  /** Internal port → the external port the home router gave it (reachability/port-mapper.ts). */
  private external: ReadonlyMap<number, number> = new Map();

  constructor(private readonly o: BoxAddressOptions) {
    this.boxPort = o.boxPort;
    this.httpPort = o.httpPort;
    this.httpsPort = o.httpsPort ?? 0;
  }

  /** True when the operator fixed the address, so what the entrance reports changes nothing. */
  get fixed(): boolean {
    return this.o.fixedIp !== '';
  }

  clientIp(): string {
    return this.o.fixedIp || this.publicIp || connectHostFor(this.o.serverIp);
  }

  /** The port others connect to for an internal one: the router's external port when it mapped another. */
  externalPort(internalPort: number): number {
    return this.external.get(internalPort) ?? internalPort;
  }

  /** Takes the router's mappings; says whether the URLs changed. */
  useExternalPorts(external: ReadonlyMap<number, number>): boolean {
    const before = [this.connectWs(), this.httpUrl()].join(' ');
    this.external = new Map(external);
    return [this.connectWs(), this.httpUrl()].join(' ') !== before;
  }

  connectWs(): string {
    return `ws://${hostPort(this.clientIp(), this.externalPort(this.boxPort))}/dandelion/${this.o.boxId}/ws/`;
  }

  /** Where viewers fetch this box's files: HTTP_URL + <publisher-id>/<FILE_PATH> (extension field). */
  httpUrl(): string {
    return boxHttpUrl(this.clientIp(), this.externalPort(this.httpPort));
  }

  /** `https://<certificate name>:<port>/` once a certificate is served (extension field HTTPS_URL); else undefined. */
  httpsUrl(): string | undefined {
    return this.httpsName === undefined ? undefined : `https://${hostPort(this.httpsName, this.externalPort(this.httpsPort))}/`;
  }

  envelope(): Envelope {
    return { ID: this.o.boxId, IP: this.clientIp(), PORT: this.externalPort(this.boxPort), TYPE: 'BOX' };
  }

  /** Takes the address an entrance saw; says whether it is the first one learnt or a change. */
  learnPublicIp(ip: string | undefined): 'first' | 'changed' | undefined {
    if (ip === undefined || ip === this.publicIp) return undefined;
    const first = this.publicIp === undefined;
    this.publicIp = ip;
    return first ? 'first' : 'changed';
  }
}
