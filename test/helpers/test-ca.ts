/**
 * A real certificate authority made with openssl at run time, for tests of HTTPS: a root, an
 * intermediate it signs, and leaf certificates the intermediate issues for a CSR, with any name and
 * any validity window (`openssl ca -startdate/-enddate`, so lifetimes of seconds for renewal tests).
 * Clients trust `rootPem` only; servers serve the leaf and the intermediate.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCa {
  dir: string;
  rootPem: string;
  /** Issue a leaf for `csrPem` naming `name` (only SAN), valid from now + startSeconds for lifetimeSeconds; returns leaf + intermediate. */
  issue(csrPem: string, o: { name: string; lifetimeSeconds: number; startSeconds?: number }): string;
  /** A CSR for a key that is not the box's (what a confused CA might sign). */
  strangerCsr(name: string): string;
  /** A self-contained certificate and key (for a server that is not a box, e.g. the publisher's viewer server). */
  serverPair(name: string, ip?: string): { certPem: string; keyPem: string };
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

export function createTestCa(): TestCa {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dandelion-ca-'));
  const at = (f: string): string => path.join(dir, f);
  const openssl = (args: string[], env: Record<string, string> = {}): string => execFileSync('openssl', args, { cwd: dir, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] }).toString();
  writeFileSync(at('ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  openssl(['req', '-x509', ...P256, '-keyout', at('root.key'), '-out', at('root.pem'), '-subj', '/CN=Dandelion test root', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', '-new', ...P256, '-keyout', at('int.key'), '-out', at('int.csr'), '-subj', '/CN=Dandelion test intermediate']);
  openssl(['x509', '-req', '-in', at('int.csr'), '-CA', at('root.pem'), '-CAkey', at('root.key'), '-CAcreateserial', '-out', at('int.pem'), '-days', '2', '-extfile', at('ca.ext')]);
  mkdirSync(at('issued'));
  writeFileSync(at('index.txt'), '');
  writeFileSync(at('serial'), '1000\n');
  writeFileSync(at('ca.cnf'), `[ ca ]
default_ca = test_ca
[ test_ca ]
database = ${at('index.txt')}
new_certs_dir = ${at('issued')}
serial = ${at('serial')}
private_key = ${at('int.key')}
certificate = ${at('int.pem')}
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[ any_name ]
commonName = optional
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = \${ENV::LEAF_SAN}
`);
  const intermediatePem = readFileSync(at('int.pem'), 'utf8');
  let n = 0;
  const issue: TestCa['issue'] = (csrPem, o) => {
    n += 1;
    const csr = at(`leaf-${n}.csr`);
    writeFileSync(csr, csrPem);
    const from = new Date(Date.now() + (o.startSeconds ?? 0) * 1000);
    const until = new Date(from.getTime() + o.lifetimeSeconds * 1000);
    openssl(['ca', '-batch', '-notext', '-config', at('ca.cnf'), '-extensions', 'leaf', '-in', csr, '-out', at(`leaf-${n}.pem`), '-startdate', asn1Time(from), '-enddate', asn1Time(until)], { LEAF_SAN: `DNS:${o.name}` });
    return `${readFileSync(at(`leaf-${n}.pem`), 'utf8').trim()}\n${intermediatePem}`;
  };
  const strangerCsr = (name: string): string => {
    n += 1;
    openssl(['req', '-new', ...P256, '-keyout', at(`stranger-${n}.key`), '-out', at(`stranger-${n}.csr`), '-subj', `/CN=${name}`]);
    return readFileSync(at(`stranger-${n}.csr`), 'utf8');
  };
  const serverPair = (name: string, ip = '127.0.0.1'): { certPem: string; keyPem: string } => {
    n += 1;
    openssl(['req', '-new', ...P256, '-keyout', at(`server-${n}.key`), '-out', at(`server-${n}.csr`), '-subj', `/CN=${name}`]);
    const until = new Date(Date.now() + 86_400_000);
    openssl(['ca', '-batch', '-notext', '-config', at('ca.cnf'), '-extensions', 'leaf', '-in', at(`server-${n}.csr`), '-out', at(`server-${n}.pem`), '-startdate', asn1Time(new Date(Date.now() - 60_000)), '-enddate', asn1Time(until)], { LEAF_SAN: `DNS:${name},IP:${ip}` });
    return { certPem: `${readFileSync(at(`server-${n}.pem`), 'utf8').trim()}\n${intermediatePem}`, keyPem: readFileSync(at(`server-${n}.key`), 'utf8') };
  };
  return { dir, rootPem: readFileSync(at('root.pem'), 'utf8'), issue, strangerCsr, serverPair };
}

/** YYYYMMDDHHMMSSZ, as `openssl ca -startdate/-enddate` takes it. */
function asn1Time(d: Date): string {
  return `${d.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
}
