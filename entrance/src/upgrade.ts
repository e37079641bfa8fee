/**
 * The entrance's WebSocket door: an upgrade to the WebSocket path is admitted when the entrance is
 * accepting, the address is within its limits and the enrolment gate accepts the peer's credentials;
 * every refusal goes through refuseUpgrade with its status and ERROR_CODE.
 */
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { refuseUpgrade } from '../../shared/src/http-guard.js';
import type { UpgradeHandler } from '../../shared/src/http-guard.js';
import type { AddressLimits } from '../../shared/src/address-limits.js';
import type { Logger } from '../../shared/src/log.js';
import { remoteIpOf } from '../../shared/src/peer-address.js';
import type { TrustedProxies } from '../../shared/src/peer-address.js';
import type { EnrolmentGate } from './enrolment/gate.js';
import type { EntranceMetrics } from './metrics.js';

export interface UpgradeDeps {
  /** The WebSocket path without its trailing slash. */
  wsPath: string;
  gate: EnrolmentGate;
  addresses: AddressLimits;
  wss: WebSocketServer;
  trustedProxies: TrustedProxies;
  metrics: EntranceMetrics;
  log: Logger;
  /** False once the entrance is stopping: new sockets are refused with 503. */
  accepting(): boolean;
  /** A socket is open: `peerId` is set when the peer proved an enrolled box's or publisher's key. */
  onConnection(ws: WebSocket, remoteIp: string, peerId: string | undefined): void;
}

const SHUTTING_DOWN = { ERROR: 'entrance shutting down', ERROR_CODE: 'E_SHUTTING_DOWN' } as const;

export function createUpgradeHandler(deps: UpgradeDeps): UpgradeHandler {
  const { wsPath, gate, addresses, wss, log } = deps;
  return (req: http.IncomingMessage, socket: Duplex, head: Buffer, url: URL): void => {
    const pathname = url.pathname.replace(/\/+$/, '');
    if (!deps.accepting()) return refuseUpgrade(socket, 503, SHUTTING_DOWN);
    if (pathname !== wsPath) return refuseUpgrade(socket, 404, { ERROR: `no WebSocket here; connect to ${wsPath}/`, ERROR_CODE: 'E_NOT_FOUND' });
    const remoteIp = remoteIpOf(req, deps.trustedProxies);
    if (!addresses.admit(remoteIp, socket)) return;
    gate
      .authenticateUpgrade(req, remoteIp)
      .then((auth) => {
        if (!auth.ok) {
          log.info({ peer: remoteIp, box: req.headers['x-dandelion-box'], publisher: req.headers['x-dandelion-publisher'], code: auth.code, reason: auth.message }, 'upgrade refused');
          deps.metrics.refused(auth.code);
          return refuseUpgrade(socket, auth.status, { ERROR: auth.message, ERROR_CODE: auth.code });
        }
        // The credential check took a while: the entrance may have begun stopping meanwhile.
        if (!deps.accepting()) return refuseUpgrade(socket, 503, SHUTTING_DOWN);
        wss.handleUpgrade(req, socket, head, (ws) => deps.onConnection(ws, remoteIp, auth.peerId));
      })
      .catch((err: unknown) => {
        log.error({ err, peer: remoteIp }, 'could not check the upgrade');
        refuseUpgrade(socket, 503, { ERROR: 'entrance cannot check credentials now; try again', ERROR_CODE: 'E_INTERNAL' });
      });
  };
}
