/**
 * /status/household on the agent's own HTTP server (BOX_PORT), where the box's nginx proxies it from the
 * viewer port for peers on the box's own networks: GET returns the settings in force as JSON, POST sets
 * them (the LAN status page's form, or JSON). The household's settings decide whether the box serves at
 * all, so the agent checks again what nginx already checked, and more:
 *   - the client is the socket's peer, or X-Real-IP when the peer is loopback (the box's own nginx), and
 *     must be in LAN_NETWORKS (403);
 *   - a browser's cross-site post (Sec-Fetch-Site cross-site, or an Origin whose host is not the Host)
 *     is refused (403), so a web page elsewhere cannot post the household's form for it;
 *   - each field goes through the config schema's parser (400 naming the field), and nothing is stored
 *     unless every field is good.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendRefusal } from '../../../shared/src/http-guard.js';
import type { Refusal, RequestHandler } from '../../../shared/src/http-guard.js';
import type { RouteTable } from '../../../shared/src/http-router.js';
import { LOOPBACK_PROXIES, remoteIpOf, trustedProxies } from '../../../shared/src/peer-address.js';
import { parseJsonSafe } from '../../../shared/src/protocol/json.js';
import { LAN_NETWORKS } from '../status/box-status.js';
import { householdExchangeFields } from './exchange-fields.js';
import type { Household } from './household.js';
import { BadSetting, HOUSEHOLD_PATH, USE_CONFIG_FIELD, decodeOverrides } from './settings.js';

/** A form of three short fields; anything longer is not the household's form. */
const MAX_BODY_BYTES = 4096;

const LAN = trustedProxies(LAN_NETWORKS);
const NOT_LAN: Refusal = { ERROR: 'the household settings are open to the box\'s own network only', ERROR_CODE: 'E_FORBIDDEN' };
const CROSS_SITE: Refusal = { ERROR: 'cross-site posts are refused: use the form on the box\'s own status page', ERROR_CODE: 'E_FORBIDDEN' };

export interface HouseholdRoutesDeps {
  household: Household;
  /** Resolves once the status page shows the change (the form's redirect lands on it). */
  statusWritten(): Promise<void>;
}

export function householdRoutes(deps: HouseholdRoutesDeps): RouteTable {
  const get: RequestHandler = (req, res) => {
    if (!fromLan(req)) return sendRefusal(res, 403, NOT_LAN);
    sendJson(res, 200, settingsJson(deps.household));
  };
  const post: RequestHandler = async (req, res) => {
    if (!fromLan(req)) return sendRefusal(res, 403, NOT_LAN);
    if (crossSite(req)) return sendRefusal(res, 403, CROSS_SITE);
    const form = isForm(req);
    const body = await readBody(req);
    if (body === undefined) return sendRefusal(res, 413, { ERROR: `the settings must be under ${MAX_BODY_BYTES} bytes`, ERROR_CODE: 'E_TOO_BIG' });
    const fields = form ? Object.fromEntries(new URLSearchParams(body)) : parseJson(body);
    try {
      await apply(deps.household, fields);
    } catch (err) {
      if (!(err instanceof BadSetting)) throw err;
      const refusal: Refusal & { FIELD: string } = { ERROR: err.message, ERROR_CODE: 'E_FORMAT', FIELD: err.field };
      return sendRefusal(res, 400, refusal);
    }
    if (!form) return sendJson(res, 200, settingsJson(deps.household));
    await deps.statusWritten();
    res.writeHead(303, { location: '/status/', 'content-length': 0, 'cache-control': 'no-store' });
    res.end();
  };
  return { [HOUSEHOLD_PATH]: { GET: get, HEAD: get, POST: post } };
}

async function apply(household: Household, fields: unknown): Promise<void> {
  const overrides = decodeOverrides(fields); // throws before anything is stored
  const reset = typeof fields === 'object' && fields !== null && USE_CONFIG_FIELD in fields;
  await (reset ? household.reset() : household.set(overrides));
}

function settingsJson(household: Household): unknown {
  const view = household.view();
  return { ...view.settings, SOURCES: view.sources, ...householdExchangeFields(view) };
}

function fromLan(req: IncomingMessage): boolean {
  return LAN.has(remoteIpOf(req, LOOPBACK_PROXIES));
}

function crossSite(req: IncomingMessage): boolean {
  if (req.headers['sec-fetch-site'] === 'cross-site') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false; // not a browser's post: nothing a web page could forge
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true; // 'null' (a sandboxed or file: page) or garbage
  }
}

function isForm(req: IncomingMessage): boolean {
  return (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

/** The body as text, or undefined when it is longer than MAX_BODY_BYTES. */
async function readBody(req: IncomingMessage): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(body: string): unknown {
  try {
    return parseJsonSafe(body);
  } catch {
    return undefined; // decodeOverrides refuses it as not an object
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}
