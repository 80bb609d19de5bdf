import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import type { UserInfo } from '../admission/request.js';
import { dictionary, type JsonObject } from '../common/json.js';
import { defaultPolicy, type Policy } from '../policy/policy.js';
import { parsePolicy } from '../policy/parse.js';
import { apiResourceOf } from './api-resource.js';
import { InputError } from './input-error.js';

export const TEST_KIND = 'RestoreGuardTest';

/** What one webhook is expected to answer; every field is optional and only given ones are compared. */
export interface WebhookExpectation {
  allowed?: boolean;
  outcome?: string;
  /** Whether the mutating webhook returns a patch. */
  patched?: boolean;
  /** A piece of the denial message. */
  message?: string;
}

export interface TestCase {
  name: string;
  user: UserInfo;
  namespace: string;
  /** The object the case writes: a Pod, or (with `resource`) a new checkpoint object, a capture. */
  pod: JsonObject;
  /** Set for a capture: the checkpoint object's resource, from its apiVersion and kind. */
  resource?: { group: string; version: string; resource: string };
  /** Set: the review is an UPDATE from this Pod to `pod`. */
  oldPod?: JsonObject;
  expect: { mutate?: WebhookExpectation | 'not-reached'; validate?: WebhookExpectation | 'not-reached' };
}

/** Who may use a verb on restore objects: a user or a group, in a namespace, on some names or all. */
export interface TestGrant {
  user?: string;
  group?: string;
  namespace: string;
  names?: string[];
  /** `plural.group` (or `plural` for the core group; `pods/exec` for a capture's grant); absent: any resource. */
  resource?: string;
  /** Absent: whatever verb the source asks for. */
  verb?: string;
}

export interface TestFile {
  file: string;
  policy: Policy;
  now?: number;
  objects: JsonObject[];
  runtimeClasses: JsonObject[];
  namespaceLabels: Record<string, Record<string, string>>;
  grants: TestGrant[];
  cases: TestCase[];
}

const object = { type: 'object' };
const text = { type: 'string', minLength: 1 };
const expectation = {
  anyOf: [
    { const: 'not-reached' },
    {
      type: 'object',
      additionalProperties: false,
      properties: { allowed: { type: 'boolean' }, outcome: text, patched: { type: 'boolean' }, message: text },
    },
  ],
};
const user = {
  anyOf: [
    text,
    {
      type: 'object',
      additionalProperties: false,
      required: ['username'],
      properties: {
        username: text,
        uid: text,
        groups: { type: 'array', items: text },
        extra: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
      },
    },
  ],
};
const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'cases'],
  properties: {
    apiVersion: { const: 'restore-guard.dev/v1alpha1' },
    kind: { const: TEST_KIND },
    description: { type: 'string' },
    policy: object,
    policyFile: text,
    now: text,
    objects: { type: 'array', items: object },
    runtimeClasses: { type: 'array', items: object },
    namespaceLabels: { type: 'object', additionalProperties: { type: 'object', additionalProperties: { type: 'string' } } },
    grants: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['namespace'],
        properties: { user: text, group: text, namespace: text, names: { type: 'array', items: text }, resource: text, verb: text },
        anyOf: [{ required: ['user'] }, { required: ['group'] }],
      },
    },
    cases: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'user', 'expect'],
        // A Pod (CREATE, or UPDATE from oldPod), or a new checkpoint object (a capture of its source Pod).
        oneOf: [{ required: ['pod'] }, { required: ['checkpoint'], not: { required: ['oldPod'] } }],
        properties: {
          name: text,
          user,
          namespace: text,
          pod: object,
          oldPod: object,
          checkpoint: object,
          expect: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: { mutate: expectation, validate: expectation },
          },
        },
      },
    },
  },
};

interface TestDocument {
  policy?: JsonObject;
  policyFile?: string;
  now?: string;
  objects?: JsonObject[];
  runtimeClasses?: JsonObject[];
  namespaceLabels?: Record<string, Record<string, string>>;
  grants?: TestGrant[];
  cases: Array<{
    name: string;
    user: string | { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
    namespace?: string;
    pod?: JsonObject;
    oldPod?: JsonObject;
    checkpoint?: JsonObject;
    expect: TestCase['expect'];
  }>;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const validateDocument = ajv.compile<TestDocument>(schema);

function describe(error: ErrorObject): string {
  const at = error.instancePath || '(top level)';
  if (error.keyword === 'additionalProperties') return `${at}: unknown field ${JSON.stringify(error.params.additionalProperty)}`;
  if (error.keyword === 'const') return `${at}: must be ${JSON.stringify(error.params.allowedValue)}`;
  return `${at}: ${error.message ?? 'is invalid'}`;
}

function userOf(spec: TestDocument['cases'][number]['user']): UserInfo {
  const given = typeof spec === 'string' ? { username: spec } : spec;
  // Every authenticated requester carries system:authenticated, as kube-apiserver adds it.
  const info: UserInfo = { username: given.username, groups: [...new Set([...(given.groups ?? []), 'system:authenticated'])], extra: dictionary<string[]>() };
  if (given.uid) info.uid = given.uid;
  for (const [key, values] of Object.entries(given.extra ?? {})) info.extra[key] = values;
  return info;
}

function namespaceOf(pod: JsonObject): string | undefined {
  const metadata = pod.metadata;
  return typeof metadata === 'object' && metadata !== null && !Array.isArray(metadata) && typeof metadata.namespace === 'string'
    ? metadata.namespace
    : undefined;
}

async function policyOf(document: TestDocument, file: string): Promise<Policy> {
  if (document.policy && document.policyFile) throw new InputError(`${file}: policy and policyFile are alternatives; give one`);
  let text: string | undefined;
  let origin = file;
  if (document.policy) text = JSON.stringify(document.policy);
  if (document.policyFile) {
    origin = resolve(dirname(file), document.policyFile);
    try {
      text = await readFile(origin, 'utf8');
    } catch (error) {
      throw new InputError(`${file}: cannot read policyFile ${document.policyFile}: ${(error as Error).message}`);
    }
  }
  if (text === undefined) return defaultPolicy();
  const parsed = parsePolicy(text);
  if (!parsed.ok) throw new InputError(`${file}: the policy (${origin === file ? 'policy' : origin}) does not validate: ${parsed.errors.join('; ')}`);
  return parsed.policy;
}

/** Reads and checks one test file; anything wrong with it is an InputError naming the file and the field. */
export async function loadTestFile(file: string): Promise<TestFile> {
  let raw: unknown;
  try {
    raw = parseYaml(await readFile(file, 'utf8'), { maxAliasCount: 16 });
  } catch (error) {
    throw new InputError(`${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!validateDocument(raw)) {
    // Of a field that may take two shapes (anyOf), the shape the author meant is the one with a specific complaint.
    const errors = (validateDocument.errors ?? []).filter((e) => e.keyword !== 'anyOf');
    const specific = new Set(errors.filter((e) => e.keyword !== 'const' && e.keyword !== 'type').map((e) => e.instancePath));
    const problems = errors.filter((e) => !((e.keyword === 'const' || e.keyword === 'type') && specific.has(e.instancePath))).map(describe);
    throw new InputError(`${file} is not a valid ${TEST_KIND}: ${[...new Set(problems)].slice(0, 5).join('; ')}`);
  }
  const document = raw;
  const cases = document.cases.map((c): TestCase => {
    // The schema let through exactly one of the two.
    const written = (c.pod ?? c.checkpoint) as JsonObject;
    const testCase: TestCase = {
      name: c.name,
      user: userOf(c.user),
      namespace: c.namespace ?? namespaceOf(written) ?? 'default',
      pod: written,
      expect: c.expect,
    };
    if (c.oldPod) testCase.oldPod = c.oldPod;
    if (c.checkpoint) testCase.resource = apiResourceOf(c.checkpoint);
    return testCase;
  });
  const loaded: TestFile = {
    file,
    policy: await policyOf(document, file),
    objects: document.objects ?? [],
    runtimeClasses: document.runtimeClasses ?? [],
    namespaceLabels: document.namespaceLabels ?? {},
    grants: document.grants ?? [],
    cases,
  };
  if (document.now) {
    const now = Date.parse(document.now);
    if (Number.isNaN(now)) throw new InputError(`${file}: now must be a time such as 2025-06-01T12:00:00Z, got ${JSON.stringify(document.now)}`);
    loaded.now = now;
  }
  return loaded;
}
