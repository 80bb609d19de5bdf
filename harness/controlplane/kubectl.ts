import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { stringify } from 'yaml';

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface KubectlTarget {
  kubectl: string;
  kubeconfig: string;
}

export interface KubectlOptions {
  /** A context of the harness kubeconfig: one per static user (admin, alice, bob, carol). */
  as?: string;
  /** A bearer token instead of the context's (ServiceAccount tokens). */
  token?: string;
  /** Written to stdin: a string, or objects that are written as a YAML stream. */
  input?: string | object | object[];
}

export function toYaml(input: object | object[]): string {
  const documents = Array.isArray(input) ? input : [input];
  return documents.map((document) => stringify(document)).join('---\n');
}

/** The command line as a person would type it (the harness kubeconfig is implied). */
export function commandLine(args: string[], options: KubectlOptions = {}): string {
  const quoted = args.map((arg) => (/^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "'\\''")}'`));
  const who = options.as && options.as !== 'admin' ? [`--context=${options.as}`] : [];
  return ['kubectl', ...who, ...(options.token ? ['--token=$TOKEN'] : []), ...quoted].join(' ');
}

export async function kubectl(target: KubectlTarget, args: string[], options: KubectlOptions = {}): Promise<KubectlResult> {
  const full = ['--kubeconfig', target.kubeconfig, '--context', options.as ?? 'admin', ...(options.token ? ['--token', options.token] : []), ...args];
  return new Promise((resolve, reject) => {
    // HOME beside the kubeconfig: kubectl's discovery cache stays with the run, not in the user's ~/.kube.
    const child = spawn(target.kubectl, full, { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: dirname(target.kubeconfig) } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    const input = options.input === undefined ? undefined : typeof options.input === 'string' ? options.input : toYaml(options.input);
    child.stdin.end(input);
  });
}

/** Like kubectl(), but a non-zero exit is an error carrying stderr. */
export async function kubectlOk(target: KubectlTarget, args: string[], options: KubectlOptions = {}): Promise<string> {
  const result = await kubectl(target, args, options);
  if (result.code !== 0) throw new Error(`${commandLine(args, options)} failed (${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  return result.stdout;
}
