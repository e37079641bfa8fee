/**
 * Debian's pebble (a test-only ACME CA) in the lab's internet namespace. Its API needs a TLS certificate
 * of its own, made here at every start (clients trust it through `caFile`); the CA root it signs box
 * certificates with is new at every start too, fetched from its management port (`rootPem`).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Lab } from './lab.js';
import { run } from './netns.js';

/** Fixed ports: pebble has the internet namespace's address to itself. */
export const PEBBLE_ACME_PORT = 14000;
export const PEBBLE_MANAGEMENT_PORT = 15000;
const READY_TIMEOUT_MS = 20_000;

export interface PebbleOptions {
  /** host:port of the DNS server pebble validates DNS-01 challenges against (e.g. the entrance's). */
  dnsServer?: string;
  /** Lifetime of the certificates it issues, in seconds (pebble's certificateValidityPeriod); default pebble's own (5 years). */
  certificateValiditySeconds?: number;
}

export interface Pebble {
  /** The ACME directory, e.g. https://80.0.0.1:14000/dir (ACME_DIRECTORY_URL). */
  directoryUrl: string;
  /** The CA root this pebble run signs with (PEM), what a browser or client must trust for its certificates. */
  rootPem: string;
  /** The certificate of pebble's own API TLS (PEM file): ACME_CA_FILE for a client talking to pebble. */
  caFile: string;
  stop(): void;
}

export async function startPebble(lab: Lab, opts: PebbleOptions = {}): Promise<Pebble> {
  const dir = path.join(lab.dir, 'pebble');
  await run(['mkdir', '-p', dir]);
  const caFile = path.join(dir, 'api-cert.pem');
  const keyFile = path.join(dir, 'api-key.pem');
  await run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=pebble', '-addext', `subjectAltName=IP:${lab.internetIp},DNS:pebble,DNS:localhost`, '-keyout', keyFile, '-out', caFile]);
  const config = path.join(dir, 'pebble-config.json');
  writeFileSync(config, JSON.stringify({
    pebble: {
      listenAddress: `0.0.0.0:${PEBBLE_ACME_PORT}`,
      managementListenAddress: `0.0.0.0:${PEBBLE_MANAGEMENT_PORT}`,
      certificate: caFile,
      privateKey: keyFile,
      // Ports it would validate HTTP-01 / TLS-ALPN-01 on: the lab uses DNS-01 only.
      httpPort: 5002,
      tlsPort: 5001,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
      ...(opts.certificateValiditySeconds ? { certificateValidityPeriod: opts.certificateValiditySeconds } : {}),
    },
  }));
  const argv = ['pebble', '-config', config, ...(opts.dnsServer ? ['-dnsserver', opts.dnsServer] : [])];
  // PEBBLE_VA_NOSLEEP: else it sleeps up to 15 s before each validation.
  const child = lab.spawn(lab.internet, argv, { env: { ...process.env, PEBBLE_VA_NOSLEEP: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const management = `https://${lab.internetIp}:${PEBBLE_MANAGEMENT_PORT}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`pebble exited while starting:\n${output}`);
    const root = await lab.exec(lab.internet, ['curl', '-sf', '--cacert', caFile, `${management}/roots/0`]);
    if (root.code === 0 && root.stdout.includes('BEGIN CERTIFICATE')) {
      return { directoryUrl: `https://${lab.internetIp}:${PEBBLE_ACME_PORT}/dir`, rootPem: root.stdout, caFile, stop: () => child.kill('SIGTERM') };
    }
    if (Date.now() > deadline) throw new Error(`pebble did not answer on ${management} in ${READY_TIMEOUT_MS} ms:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
