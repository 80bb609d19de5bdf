import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { isObject, type JsonObject } from '../common/json.js';
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

/** The object, if it is a core v1 Pod; otherwise a clear refusal. */
export function asPod(value: unknown, file: string): JsonObject {
  if (!isObject(value)) throw new InputError(`${file} does not hold an object`);
  const { apiVersion, kind } = value;
  if (kind !== 'Pod' || apiVersion !== 'v1') {
    const what = typeof kind === 'string' ? `a ${kind}${typeof apiVersion === 'string' ? ` (${apiVersion})` : ''}` : 'an object without a kind';
    throw new InputError(`${file} holds ${what}, not a Pod (apiVersion: v1, kind: Pod): restore-guard checks Pods`);
  }
  if (!isObject(value.metadata) || (typeof value.metadata.name !== 'string' && typeof value.metadata.generateName !== 'string')) {
    throw new InputError(`${file}: the Pod needs metadata.name (or metadata.generateName)`);
  }
  if (!isObject(value.spec)) throw new InputError(`${file}: the Pod has no spec`);
  return value;
}

async function stdinText(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
