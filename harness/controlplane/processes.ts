// Child processes of the e2e harness (etcd, kube-apiserver, kube-controller-manager, restore-guard), made orphan-proof.
//
// Every child runs in its own process group (detached), so stopping it also stops whatever it started.
// Three layers make sure none survives the test run:
// 1. stop()/stopAll(): SIGTERM to the group, SIGKILL when it has not exited after a grace period;
// 2. a synchronous 'exit' handler of this Node process: SIGKILL to every group still running;
// 3. a watchdog (a small detached shell) that polls this process and, once it is gone (also after a
//    SIGKILL, which runs no handler), SIGKILLs every group listed in the pid file, then exits itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** stdout and stderr go to this file (default: <dir>/<name>.log); `pipe` keeps them readable. */
  output?: 'file' | 'pipe';
}

export interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or the signal's name) once the process has exited. */
  readonly exited: Promise<number | string>;
  running(): boolean;
}

const WATCHDOG = `
parent="$1"; pids="$2"
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
if [ -f "$pids" ]; then
  while read -r pgid; do [ -n "$pgid" ] && kill -KILL -- "-$pgid" 2>/dev/null; done < "$pids"
  rm -f "$pids"
fi
`;

export class Supervisor {
  private readonly managed = new Map<number, Managed>();
  private readonly pidFile: string;
  private watchdog: ChildProcess | undefined;
  private readonly onExit = (): void => this.killAllNow();

  constructor(private readonly dir: string) {
    this.pidFile = join(dir, 'process-groups');
    writeFileSync(this.pidFile, '');
    process.once('exit', this.onExit);
    // bash, not sh: dash's kill does not take `--` before a negative process group id.
    this.watchdog = spawn('bash', ['-c', WATCHDOG, 'restore-guard-e2e-watchdog', String(process.pid), this.pidFile], {
      detached: true,
      stdio: 'ignore',
    });
    this.watchdog.unref();
  }

  spawn(name: string, command: string, args: string[], options: SpawnOptions = {}): Managed {
    const logFile = join(this.dir, `${name}.log`);
    const fd = options.output === 'pipe' ? undefined : openSync(logFile, 'a');
    const child = spawn(command, args, {
      detached: true,
      cwd: options.cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? this.dir, ...options.env },
      stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
    });
    if (fd !== undefined) closeSync(fd);
    if (child.pid === undefined) throw new Error(`cannot start ${name} (${command})`);
    const pid = child.pid;
    let alive = true;
    const exited = new Promise<number | string>((resolve) => {
      child.once('exit', (code, signal) => {
        alive = false;
        this.managed.delete(pid);
        this.writePidFile();
        resolve(code ?? signal ?? 'unknown');
      });
    });
    child.once('error', () => undefined);
    const managed: Managed = { name, child, pid, logFile, exited, running: () => alive };
    this.managed.set(pid, managed);
    this.writePidFile();
    return managed;
  }

  /** SIGTERM to the process group; SIGKILL after `graceMs` (cleanup only, never asserted on). */
  async stop(managed: Managed, graceMs = 10_000): Promise<number | string> {
    if (!managed.running()) return managed.exited;
    signalGroup(managed.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(managed.pid, 'SIGKILL'), graceMs);
    try {
      return await managed.exited;
    } finally {
      clearTimeout(timer);
      // Anything the child started and left behind in its group goes too.
      signalGroup(managed.pid, 'SIGKILL');
    }
  }

  /** Stops every child, the newest first (kube-apiserver before etcd), then the watchdog. */
  async stopAll(): Promise<void> {
    for (const managed of [...this.managed.values()].reverse()) await this.stop(managed);
    this.dispose();
  }

  /** Last resort, synchronous: SIGKILL to every group still running. */
  killAllNow(): void {
    for (const managed of this.managed.values()) signalGroup(managed.pid, 'SIGKILL');
    this.managed.clear();
    this.dispose();
  }

  private dispose(): void {
    process.removeListener('exit', this.onExit);
    rmSync(this.pidFile, { force: true });
    if (this.watchdog?.pid !== undefined && this.watchdog.exitCode === null) signalGroup(this.watchdog.pid, 'SIGKILL');
    this.watchdog = undefined;
  }

  private writePidFile(): void {
    if (this.watchdog === undefined) return;
    writeFileSync(this.pidFile, [...this.managed.keys()].map((pid) => `${pid}\n`).join(''));
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}
