// A one-node Slurm cluster for a test, from Debian's packages (slurm-wlm, munge): munged with a
// fresh key, slurmctld and slurmd, all in the foreground of child processes, configured in a
// temporary directory (its own ports, socket, state and logs, so nothing on the machine is
// touched), and stopped by their pids. Needs root: slurmd starts jobs as their user.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

const BINARIES = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'sinfo', 'scancel'];

/** The path of `name` on PATH or in /usr/sbin, or null. */
export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d.startsWith('/')), '/usr/sbin', '/sbin'];
  return dirs.map((d) => join(d, name)).find((p) => existsSync(p)) ?? null;
}

export const missingSlurmBinaries = () => BINARIES.filter((b) => findBinary(b) === null);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export interface SlurmCluster {
  /** The environment for Slurm's commands (SLURM_CONF names the cluster's configuration). */
  env: NodeJS.ProcessEnv;
  dir: string;
  /** The daemons' logs, for a failure message. */
  logs(): string;
  stop(): Promise<void>;
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function startSlurmCluster(dir: string): Promise<SlurmCluster> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // munged refuses a socket directory others may write
  const key = join(dir, 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o600 });
  const socket = join(dir, 'munge.socket');
  const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
  for (const sub of ['ctld', 'slurmd']) mkdirSync(join(dir, sub), { recursive: true });
  const conf = join(dir, 'slurm.conf');
  writeFileSync(conf, [
    'ClusterName=alexnet-test',
    'SlurmctldHost=localhost',
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${slurmdPort}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${socket}`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_CPU',
    'MpiDefault=none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'ReturnToService=2',
    `StateSaveLocation=${join(dir, 'ctld')}`,
    `SlurmdSpoolDir=${join(dir, 'slurmd')}`,
    `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
    `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
    `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
    'NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN',
    'PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP',
    '',
  ].join('\n'));
  const env = { ...process.env, SLURM_CONF: conf };
  const daemons: ChildProcess[] = [];
  const start = (name: string, args: string[]) => {
    const out = openSync(join(dir, `${name}.out`), 'a');
    const child = spawn(findBinary(name)!, args, { stdio: ['ignore', out, out], env });
    daemons.push(child);
  };
  const cluster: SlurmCluster = {
    env,
    dir,
    logs: () => ['munged.out', 'slurmctld.log', 'slurmd.log'].map((f) => {
      const path = join(dir, f);
      return `--- ${f}\n${existsSync(path) ? readFileSync(path, 'utf8').split('\n').slice(-15).join('\n') : '(none)'}`;
    }).join('\n'),
    async stop() {
      for (const child of daemons.reverse()) await stopProcess(child);
    },
  };
  try {
    start('munged', ['--foreground', '--force', `--key-file=${key}`, `--socket=${socket}`, `--pid-file=${join(dir, 'munged.pid')}`,
      `--log-file=${join(dir, 'munged.log')}`, `--seed-file=${join(dir, 'munged.seed')}`]);
    await waitFor(() => existsSync(socket), 20, 'munged to create its socket', cluster);
    start('slurmctld', ['-D', '-f', conf]);
    start('slurmd', ['-D', '-f', conf, '-N', 'localhost']);
    await waitFor(() => {
      const r = spawnSync(findBinary('sinfo')!, ['--noheader', '--format=%T'], { encoding: 'utf8', env });
      return r.status === 0 && r.stdout.trim() === 'idle';
    }, 60, 'the node to be idle in sinfo', cluster);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

async function waitFor(ready: () => boolean, seconds: number, what: string, cluster: SlurmCluster): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`Slurm test cluster: waited ${seconds} s for ${what}\n${cluster.logs()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
