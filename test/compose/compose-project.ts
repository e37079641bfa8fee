/**
 * One docker-compose project of a file in deploy/ for a test (`make compose-test`): its own project name,
 * the variables its file reads, up, exec and down (with its volumes) at the teardown. The images are built
 * before the test by scripts/compose/test.sh, so `up` only starts containers.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const DEPLOY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../deploy');

export interface ComposeProject {
  /** Containers and volumes of the project left by an interrupted run removed, then everything started. */
  upFresh(): Promise<string>;
  up(...services: string[]): Promise<string>;
  /** `exec -T SERVICE …` (no terminal): the command's standard output. */
  exec(service: string, ...command: string[]): Promise<string>;
  /** Stop and remove a service's container; its volumes stay. */
  remove(service: string): Promise<string>;
  /** SIGKILL a service's container (`docker kill`), as a crash would. */
  kill(service: string): Promise<string>;
  /** The last 40 lines of each service's log (of `services` only, when named) and `ps`: what a failure message needs. */
  logs(...services: string[]): Promise<string>;
}

export function composeProject(
  t: { teardown(fn: () => unknown): void },
  opts: { file: string; name: string; vars: Record<string, string> },
): ComposeProject {
  const run = (...args: string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const argv = ['-p', opts.name, '-f', path.join(DEPLOY, opts.file), ...args];
      execFile('docker-compose', argv, { env: { ...process.env, ...opts.vars }, maxBuffer: 16 * 1048576, timeout: 180_000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`docker-compose ${argv.join(' ')} failed: ${err.message}\n${stderr}`));
        else resolve(stdout);
      });
    });
  const down = (): Promise<string> => run('down', '--volumes', '--remove-orphans', '--timeout', '10');
  // Registered first, so it runs last: after the test's own servers (boxes) are stopped.
  t.teardown(down);
  const up = (...services: string[]): Promise<string> => run('up', '--detach', '--no-build', ...services);
  return {
    upFresh: async () => {
      await down();
      return up();
    },
    up,
    exec: (service, ...command) => run('exec', '-T', service, ...command),
    remove: (service) => run('rm', '--stop', '--force', service),
    kill: (service) => run('kill', '-s', 'SIGKILL', service),
    logs: async (...services) => `${await run('ps')}\n${await run('logs', '--no-color', '--tail', '40', ...services)}`,
  };
}
