/**
 * What the port mapper asks of a home router, whichever protocol it speaks (NAT-PMP, UPnP IGD), and the
 * two ways asking can fail: no answer (the router does not speak it: try the next protocol) or a
 * refusal (it speaks it and said no: that is the answer to report).
 */
import type { PortMappingMethod } from '../../../shared/src/protocol/index.js';

export interface MappingRequest {
  internalHost: string;
  internalPort: number;
  /** The external port asked for; a router may give another. */
  externalPort: number;
  leaseSeconds: number;
  /** External ports this box already holds for its other internal ports: a router must not be led to move them. */
  avoidExternalPorts?: readonly number[];
}

export interface GrantedMapping {
  externalPort: number;
  /** The lease the router granted (0: until removed). */
  leaseSeconds: number;
}

export interface RouterClient {
  readonly method: Extract<PortMappingMethod, 'nat-pmp' | 'upnp' | 'pcp'>;
  /** The router's external address; '' when it has none (a router behind a carrier NAT). */
  externalIp(): Promise<string>;
  map(request: MappingRequest): Promise<GrantedMapping>;
  unmap(mapping: { internalPort: number; externalPort: number }): Promise<void>;
  /** False when the router has lost the mapping (it restarted); a throw when it did not answer. A router that cannot be asked renews it instead. */
  holds(mapping: { internalHost: string; internalPort: number; externalPort: number; leaseSeconds: number }): Promise<boolean>;
  close(): void;
}

/** The router answered and refused. */
export class RouterRefusal extends Error {
  override name = 'RouterRefusal';
}

/** The router did not answer (it does not speak this protocol, or is down). */
export class RouterSilent extends Error {
  override name = 'RouterSilent';
}
