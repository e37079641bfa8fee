/**
 * A real ACME CA for one test: Debian's pebble on free loopback ports, its API served with a certificate
 * made by openssl for this run (trust it through `apiCaFile`, the entrance's ACME_CA_FILE), validating
 * DNS-01 against the DNS server given (the entrance's). PEBBLE_VA_NOSLEEP, else it sleeps up to 15 s
 * before each validation. Its root changes at every start: `issuerRoot()` fetches it from the management port.
 * The home-network lab runs it in its internet namespace through `place` (test/lab/).
 */
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../../shared/src/listen.js';
import { track } from './children.js';

const START_TIMEOUT_MS = 20_000;

export interface Pebble {
  /** ACME_DIRECTORY_URL. */
  directoryUrl: string;
  /** PEM file of the certificate pebble's API (and management port) is served with: ACME_CA_FILE. */
  apiCaFile: string;
  /** The root pebble signs issued certificates up to (PEM), fetched from its management port `/roots/0`. */
  issuerRoot(): Promise<string>;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** host:port of the DNS server pebble validates DNS-01 against. */
  dnsServer: string;
  /** Lifetime of issued certificates in seconds (pebble's default: about 5 years). */
  certificateValiditySeconds?: number;
  /** Domains (and their subdomains) pebble refuses to order for, to see an ACME refusal. */
  domainBlocklist?: string[];
  /** Run it elsewhere than on this process's loopback (a lab namespace); default: here, on 127.0.0.1. */
  place?: PebblePlace;
}

/** Where pebble runs: its address there, how to start it there, and how to GET from it there. */
export interface PebblePlace {
  host: string;
  spawn(argv: readonly string[], opts: SpawnOptions): ChildProcess;
  /** GET `url` trusting only the PEM file `caFile`: the body, or an error. */
  fetchText(url: string, caFile: string): Promise<string>;
}

const LOOPBACK: PebblePlace = {
  host: '127.0.0.1',
  spawn: ([cmd = '', ...args], opts) => spawn(cmd, args, opts),
  fetchText: (url, caFile) => httpsText(url, readFileSync(caFile, 'utf8')),
};

export async function startPebble(t: { teardown(fn: () => unknown): void }, opts: PebbleOptions): Promise<Pebble> {
  const place = opts.place ?? LOOPBACK;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pebble-'));
  const certFile = path.join(dir, 'api-cert.pem');
  const keyFile = path.join(dir, 'api-key.pem');
  await promisify(execFile)('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', '/CN=pebble-api', '-addext', `subjectAltName=IP:${place.host},DNS:localhost`,
    '-keyout', keyFile, '-out', certFile,
  ]);
  const [api, management, http01, tlsAlpn] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const configFile = path.join(dir, 'pebble-config.json');
  writeFileSync(configFile, JSON.stringify({
    pebble: {
      listenAddress: `${place.host}:${api}`,
      managementListenAddress: `${place.host}:${management}`,
      certificate: certFile,
      privateKey: keyFile,
      // Ports pebble would probe for HTTP-01 and TLS-ALPN-01: free ones, so no stranger's server is asked.
      httpPort: http01,
      tlsPort: tlsAlpn,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(opts.certificateValiditySeconds !== undefined ? { certificateValidityPeriod: opts.certificateValiditySeconds } : {}),
      ...(opts.domainBlocklist !== undefined ? { domainBlocklist: opts.domainBlocklist } : {}),
    },
  }));
  const proc = place.spawn(['pebble', '-config', configFile, '-dnsserver', opts.dnsServer], {
    // NONCEREJECT 0: pebble otherwise refuses 5 % of good nonces to test clients' retries, which only slows tests.
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(proc);
  let output = '';
  proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const directoryUrl = `https://${place.host}:${api}/dir`;
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  t.teardown(stop);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`pebble exited:\n${output}`);
    if (await place.fetchText(directoryUrl, certFile).then(() => true, () => false)) break;
    if (Date.now() > deadline) throw new Error(`pebble did not answer within ${START_TIMEOUT_MS / 1000} s:\n${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    directoryUrl,
    apiCaFile: certFile,
    issuerRoot: () => place.fetchText(`https://${place.host}:${management}/roots/0`, certFile),
    stop,
  };
}

/** GET `url` trusting only `ca`; the body, or an error for a status other than 200. */
function httpsText(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`${url}: ${res.statusCode ?? 0}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`${url}: timed out`)));
  });
}
