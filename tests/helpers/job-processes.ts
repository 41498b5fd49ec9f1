import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { MachineHandle } from '../../src/compute/backend';
import { jobFolder } from '../../src/compute/job-folder';

/** What tests see of jobs on this machine (loopback hosts included): /proc and the job folders. */
interface Proc {
  pid: number;
  state: string;
  ppid: number;
  session: number;
}

/** Every process, read from /proc/<pid>/stat. */
export function processes(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // After the command name, which may hold spaces: state ppid pgrp session ...
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({ pid: Number(name), state: f[0], ppid: Number(f[1]), session: Number(f[3]) });
  }
  return out;
}

/** Running processes whose session is `sid` (the job's wrapper leads its own session). */
export const sessionMembers = (sid: number): number[] =>
  processes()
    .filter((p) => p.session === sid && p.state !== 'Z')
    .map((p) => p.pid);

export const jobFile = (machine: MachineHandle, jobId: string, file: string) =>
  path.join(jobFolder(String(machine.details.workDir), jobId), file);

/** The wrapper's pid from the job's pid file ("<pid> <start time>"). */
export const pidOf = (machine: MachineHandle, jobId: string) =>
  Number(readFileSync(jobFile(machine, jobId, 'pid'), 'utf8').split(' ')[0]);

/** Trainer processes (python -m msm_trainer) running a job. */
export function trainersOf(machine: MachineHandle, jobId: string): number[] {
  const manifest = jobFile(machine, jobId, 'manifest.json');
  return processes()
    .filter((p) => {
      try {
        const argv = readFileSync(`/proc/${p.pid}/cmdline`, 'utf8').split('\0');
        return argv.includes('msm_trainer') && argv.includes(manifest);
      } catch {
        return false;
      }
    })
    .map((p) => p.pid);
}

/** The trainer process of a job, once it has started. */
export async function trainerOf(machine: MachineHandle, jobId: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = trainersOf(machine, jobId);
    if (found.length > 0) return found[0];
    if (Date.now() > deadline) throw new Error(`no trainer process for ${jobId} after 10 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The environment a process started with. */
export function environOf(pid: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}
