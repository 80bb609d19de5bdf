import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { isObject, type JsonObject } from '../common/json.js';
import type { RestoreSource } from '../policy/sources.js';
import { BUILT_IN_WORKLOADS, type WorkloadKind } from '../policy/workloads.js';
import { capturingSource } from '../restore/capture.js';
import { apiResourceOf } from './api-resource.js';
import { InputError } from './input-error.js';

/** Reads one YAML or JSON document from a file ('-': standard input). */
export async function readDocument(file: string, readStdin: () => Promise<string> = stdinText): Promise<unknown> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (error) {
    throw new InputError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const documents = parseAllDocuments(text);
  const list = Array.isArray(documents) ? documents : [documents];
  const errors = list.flatMap((d) => d.errors.map((e) => e.message));
  if (errors.length > 0) throw new InputError(`${file} is not valid YAML: ${errors[0]}`);
  let values: unknown[];
  try {
    values = list.map((d) => d.toJS({ maxAliasCount: 16 }) as unknown).filter((v) => v !== null && v !== undefined);
  } catch (error) {
    throw new InputError(`${file} cannot be read as YAML: ${(error as Error).message}`);
  }
  if (values.length !== 1) throw new InputError(`${file} must hold exactly one object, found ${values.length}`);
  return values[0];
}

/** Refuses, before anything is read from the cluster, what cannot be a Pod or a workload: a non-object, a core object other than a Pod. */
export function refuseNonWorkload(value: unknown, file: string): void {
  if (!isObject(value)) throw new InputError(`${file} does not hold an object`);
  if (value.apiVersion === 'v1' && value.kind !== 'Pod') asCheckedObject(value, file, BUILT_IN_WORKLOADS);
}

/** What `check` can check: a core v1 Pod, a workload whose Pod template restore-guard checks, or a new checkpoint object (a capture). */
export interface CheckedObject {
  object: JsonObject;
  /** `Pod`, `Deployment`, ... */
  kind: string;
  group: string;
  version: string;
  resource: string;
}

/**
 * The object, if it is a Pod, one of `workloads`, or the object of one of `captures` (sources whose new objects
 * name a source Pod, matched by group and resource as the webhook does); otherwise a clear refusal.
 */
export function asCheckedObject(value: unknown, file: string, workloads: readonly WorkloadKind[], captures: readonly RestoreSource[] = []): CheckedObject {
  if (!isObject(value)) throw new InputError(`${file} does not hold an object`);
  const { apiVersion, kind } = value;
  const workload = workloads.find((w) => `${w.group}/${w.version}` === apiVersion && w.kind === kind);
  const api = apiResourceOf(value);
  const capture = capturingSource(captures, api);
  const checked = workload
    ? { kind: workload.kind, group: workload.group, version: workload.version, resource: workload.resource }
    : capture && typeof kind === 'string'
      ? { kind, ...api }
      : undefined;
  if (!checked && (kind !== 'Pod' || apiVersion !== 'v1')) {
    const what = typeof kind === 'string' ? `a ${kind}${typeof apiVersion === 'string' ? ` (${apiVersion})` : ''}` : 'an object without a kind';
    const capturing = captures.filter((s) => s.sourcePod).map((s) => `${s.resource.resource}.${s.resource.group} (a capture)`);
    const known = ['Pod (v1)', ...workloads.map((w) => `${w.kind} (${w.group}/${w.version})`), ...capturing].join(', ');
    throw new InputError(`${file} holds ${what}, not an object restore-guard checks: ${known}`);
  }
  const label = checked?.kind ?? 'Pod';
  if (!isObject(value.metadata) || (typeof value.metadata.name !== 'string' && typeof value.metadata.generateName !== 'string')) {
    throw new InputError(`${file}: the ${label} needs metadata.name (or metadata.generateName)`);
  }
  if (!isObject(value.spec)) throw new InputError(`${file}: the ${label} has no spec`);
  return { object: value, ...(checked ?? { kind: 'Pod', group: '', version: 'v1', resource: 'pods' }) };
}

async function stdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
