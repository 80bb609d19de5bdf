import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { expect, vi } from 'vitest';

const MAIN = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface WebhookProcess {
  child: ChildProcess;
  webhookPort: number;
  metricsPort: number;
  logs: Array<Record<string, unknown>>;
  /** The development certificate it serves with (PEM), to trust as a CA; empty with --tls-cert-file. */
  ca: string;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Runs the built `restore-guard` binary the way a user does, on free ports, with its own HOME. */
export function runCli(args: string[], env: Record<string, string> = {}): ChildProcess {
  const home = mkdtempSync(join(tmpdir(), 'rg-home-'));
  return spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: home, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export async function startWebhookProcess(args: string[] = [], env: Record<string, string> = {}): Promise<WebhookProcess> {
  const devCertDir = mkdtempSync(join(tmpdir(), 'rg-certs-'));
  const child = runCli(['serve', '--port', '0', '--metrics-port', '0', '--bind-address', '127.0.0.1', '--dev-cert-dir', devCertDir, ...args], env);
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ports = await new Promise<{ webhookPort: number; metricsPort: number }>((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += String(chunk)));
    child.once('exit', (code) => reject(new Error(`restore-guard exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === 'restore-guard is serving') resolve({ webhookPort: Number(entry.webhookPort), metricsPort: Number(entry.metricsPort) });
      } catch {
        // not a log line
      }
    });
  });
  const devCert = join(devCertDir, 'tls.crt');
  return {
    child,
    ...ports,
    logs,
    ca: existsSync(devCert) ? readFileSync(devCert, 'utf8') : '',
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

/** The built binary against a fake API server, once its /readyz says the watches have synced. */
export async function startAgainstFakeApi(api: { writeKubeConfig(dir: string): Promise<string> }, args: string[] = []): Promise<WebhookProcess> {
  const kubeconfig = await api.writeKubeConfig(mkdtempSync(join(tmpdir(), 'rg-kubeconfig-')));
  return untilReady(await startWebhookProcess(['--kubeconfig', kubeconfig, ...args]));
}

/** The built binary as a pod runs it: the service account files and the KUBERNETES_SERVICE_* environment. */
export async function startInCluster(api: { writeServiceAccount(dir: string): Promise<Record<string, string>> }, args: string[] = []): Promise<WebhookProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-serviceaccount-'));
  const env = await api.writeServiceAccount(dir);
  return untilReady(await startWebhookProcess(['--service-account-dir', dir, ...args], env));
}

async function untilReady(webhook: WebhookProcess): Promise<WebhookProcess> {
  const readyz = `http://127.0.0.1:${webhook.metricsPort}/readyz`;
  await vi.waitFor(async () => expect((await fetch(readyz)).status).toBe(200), { timeout: 15_000, interval: 50 });
  return webhook;
}
