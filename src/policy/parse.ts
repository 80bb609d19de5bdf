import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { DURATION_PATTERN, parseDuration } from '../common/duration.js';
import { defaultPolicy, sourcesOf, type ConfiguredSource, type LabelSelector, type Mode, type Policy } from './policy.js';
import { BUILT_IN_WORKLOADS, type WorkloadKind } from './workloads.js';
import { dynamoSnapshotSource, gkePodSnapshotSource, PRESETS, referenceKey, referenceText, type PresetName, type RestoreSource } from './sources.js';

export const POLICY_API_VERSION = 'restore-guard.dev/v1alpha1';
export const POLICY_KIND = 'RestorePolicy';
/** A ConfigMap value is at most 1 MiB; a policy is a few hundred bytes. Refuse anything absurd early. */
export const MAX_POLICY_BYTES = 256 * 1024;
/** A policy has little use for YAML aliases; a low bound stops expansion bombs far below the library's 100. */
const MAX_POLICY_ALIASES = 16;

const dnsName = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' };
const namespaceName = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
const duration = { type: 'string', pattern: DURATION_PATTERN };
// An API group ('' is core) or a subresource ('' is none).
const nameOrEmpty = { anyOf: [dnsName, { const: '' }] };
const mode = { enum: ['enforce', 'warn', 'audit'] };
const stringList = (item: object) => ({ type: 'array', items: item, maxItems: 1000, uniqueItems: true });
const labelSelector = {
  type: 'object',
  additionalProperties: false,
  properties: {
    matchLabels: { type: 'object', maxProperties: 100, additionalProperties: { type: 'string', maxLength: 63 } },
    matchExpressions: {
      type: 'array',
      maxItems: 100,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['key', 'operator'],
        properties: {
          key: { type: 'string', minLength: 1, maxLength: 317 },
          operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: stringList({ type: 'string', maxLength: 63 }),
        },
      },
    },
  },
};

// A Kubernetes qualified name (annotation key, condition type): an optional DNS prefix and a name of 63 characters.
const qualifiedName = {
  type: 'string',
  minLength: 1,
  maxLength: 317,
  pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$',
};
// A dotted path to a field of the object: status.nodeName.
const fieldPath = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[A-Za-z][A-Za-z0-9]*(\\.[A-Za-z][A-Za-z0-9]*)*$' };
const closed = (properties: Record<string, object>, required: string[] = []) => ({ type: 'object', additionalProperties: false, required, properties });
const presetSource = closed({ preset: { enum: [...PRESETS] }, version: dnsName }, ['preset']);
const customSource = closed(
  {
    name: dnsName,
    reference: {
      if: { type: 'object', properties: { field: true }, required: ['field'] },
      then: closed({ field: { const: 'spec.restoreFrom' } }, ['field']),
      else: closed({ annotation: qualifiedName }, ['annotation']),
    },
    resource: closed({ group: nameOrEmpty, version: dnsName, resource: dnsName }, ['group', 'version', 'resource']),
    verb: dnsName,
    ready: closed({ condition: qualifiedName, status: { enum: ['True', 'False', 'Unknown'] } }, ['condition']),
    placement: closed({ mode: { enum: ['nodeAffinity', 'nodeName', 'none'] }, nodePath: fieldPath }, ['mode']),
    template: closed({ path: fieldPath }, ['path']),
    restored: closed({ condition: qualifiedName }, ['condition']),
    sourcePod: closed({ path: fieldPath }, ['path']),
  },
  ['name', 'reference', 'resource', 'restored'],
);

// The document admins write. Unknown keys are errors: a typo must not silently keep a default.
const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind'],
  properties: {
    apiVersion: { const: POLICY_API_VERSION },
    kind: { const: POLICY_KIND },
    mode,
    namespaceModes: { type: 'object', maxProperties: 1000, propertyNames: namespaceName, additionalProperties: mode },
    checkpointAPI: {
      type: 'object',
      additionalProperties: false,
      properties: { group: dnsName, version: dnsName, resource: dnsName, verb: dnsName },
    },
    authorizationCache: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allowedTTL: duration,
        deniedTTL: duration,
        maxEntries: { type: 'integer', minimum: 0, maximum: 1_000_000 },
      },
    },
    placement: { enum: ['nodeAffinity', 'nodeName', 'none'] },
    requireReady: { type: 'boolean' },
    specEquality: { enum: ['enforce', 'warn', 'off'] },
    maxCheckpointAge: { anyOf: [duration, { const: '' }] },
    serviceAccountToken: { enum: ['ignore', 'warn', 'require-disabled'] },
    namespaces: {
      type: 'object',
      additionalProperties: false,
      properties: { include: stringList(namespaceName), exclude: stringList(namespaceName), selector: labelSelector },
    },
    failureMode: { enum: ['closed', 'open'] },
    workloads: closed({
      delegation: { enum: ['enabled', 'disabled'] },
      controllers: { type: 'array', maxItems: 100, uniqueItems: true, items: { type: 'string', minLength: 1, maxLength: 512 } },
      kinds: {
        type: 'array',
        maxItems: 32,
        items: closed(
          { group: dnsName, version: dnsName, resource: dnsName, kind: { type: 'string', pattern: '^[A-Z][A-Za-z0-9]{0,62}$' }, templatePath: fieldPath },
          ['group', 'version', 'resource', 'kind', 'templatePath'],
        ),
      },
    }),
    checkpoints: closed({
      guard: { enum: ['enforce', 'warn', 'off'] },
      access: closed({ verb: dnsName, group: nameOrEmpty, resource: dnsName, subresource: nameOrEmpty }, ['verb', 'resource']),
    }),
    sources: {
      type: 'array',
      minItems: 1,
      maxItems: 32,
      items: { if: { type: 'object', properties: { preset: true }, required: ['preset'] }, then: presetSource, else: customSource },
    },
  },
} as const;

/** A source as admins write it: a preset (with an optional version), or every field spelled out. */
type SourceDocument =
  | { preset: PresetName; version?: string }
  | {
      name: string;
      reference: { field: 'spec.restoreFrom' } | { annotation: string };
      resource: RestoreSource['resource'];
      verb?: string;
      ready?: { condition: string; status?: string };
      placement?: { mode: Policy['placement']; nodePath?: string };
      template?: { path: string };
      restored: { condition: string };
      sourcePod?: { path: string };
    };

interface PolicyDocument {
  apiVersion: string;
  kind: string;
  mode?: Mode;
  namespaceModes?: Record<string, Mode>;
  checkpointAPI?: Partial<Policy['checkpointAPI']>;
  authorizationCache?: { allowedTTL?: string; deniedTTL?: string; maxEntries?: number };
  placement?: Policy['placement'];
  requireReady?: boolean;
  specEquality?: Policy['specEquality'];
  maxCheckpointAge?: string;
  serviceAccountToken?: Policy['serviceAccountToken'];
  namespaces?: {
    include?: string[];
    exclude?: string[];
    selector?: Partial<LabelSelector> & {
      matchExpressions?: Array<{ key: string; operator: LabelSelector['matchExpressions'][number]['operator']; values?: string[] }>;
    };
  };
  failureMode?: Policy['failureMode'];
  sources?: SourceDocument[];
  workloads?: { delegation?: Policy['workloads']['delegation']; controllers?: string[]; kinds?: WorkloadKind[] };
  checkpoints?: { guard?: Policy['checkpoints']['guard']; access?: { verb: string; group?: string; resource: string; subresource?: string } };
}

const ajv = new Ajv({ allErrors: true, strict: true });
const validateDocument = ajv.compile<PolicyDocument>(schema);

export type PolicyResult = { ok: true; policy: Policy } | { ok: false; errors: string[] };

function describe(error: ErrorObject): string {
  const at = error.instancePath || '(top level)';
  if (error.keyword === 'additionalProperties') {
    return `${at}: unknown field ${JSON.stringify(error.params.additionalProperty)}`;
  }
  if (error.keyword === 'const') return `${at}: must be ${JSON.stringify(error.params.allowedValue)}`;
  if (error.keyword === 'enum') return `${at}: must be one of ${(error.params.allowedValues as string[]).join(', ')}`;
  return `${at}: ${error.message ?? 'is invalid'}`;
}

/** Problems the schema cannot express. */
function crossFieldErrors(document: PolicyDocument): string[] {
  const errors: string[] = [];
  for (const [index, requirement] of (document.namespaces?.selector?.matchExpressions ?? []).entries()) {
    const needsValues = requirement.operator === 'In' || requirement.operator === 'NotIn';
    const count = requirement.values?.length ?? 0;
    if (needsValues && count === 0) errors.push(`/namespaces/selector/matchExpressions/${index}: ${requirement.operator} needs values`);
    if (!needsValues && count > 0) errors.push(`/namespaces/selector/matchExpressions/${index}: ${requirement.operator} takes no values`);
  }
  const overlap = (document.namespaces?.include ?? []).filter((n) => document.namespaces?.exclude?.includes(n));
  if (overlap.length > 0) errors.push(`/namespaces: ${overlap.join(', ')} both included and excluded`);
  for (const [index, kind] of (document.workloads?.kinds ?? []).entries()) {
    const known = [...BUILT_IN_WORKLOADS, ...(document.workloads?.kinds ?? []).slice(0, index)];
    if (known.some((k) => k.group === kind.group && k.resource === kind.resource)) {
      errors.push(`/workloads/kinds/${index}: ${kind.resource}.${kind.group} is already a workload kind`);
    }
  }
  for (const [index, source] of (document.sources ?? []).entries()) {
    if ('preset' in source) {
      if (source.preset === 'kep-5823' && source.version !== undefined) errors.push(`/sources/${index}: kep-5823 takes its version from checkpointAPI`);
      continue;
    }
    const { mode, nodePath } = source.placement ?? { mode: 'none' };
    if (mode !== 'none' && nodePath === undefined) errors.push(`/sources/${index}/placement: ${mode} needs nodePath (the field naming the node)`);
    if (mode === 'none' && nodePath !== undefined) errors.push(`/sources/${index}/placement: nodePath is only read by nodeAffinity or nodeName`);
    if (PRESETS.includes(source.name as PresetName)) errors.push(`/sources/${index}/name: ${source.name} is a preset's name; use {preset: ${source.name}}`);
  }
  return errors;
}

/** A source document with every field spelled out (presets expanded, defaults filled in). */
function configuredSource(document: SourceDocument): ConfiguredSource {
  if ('preset' in document) {
    if (document.preset === 'dynamo-snapshot') return dynamoSnapshotSource(document.version);
    if (document.preset === 'gke-pod-snapshot') return gkePodSnapshotSource(document.version);
    return { preset: 'kep-5823' };
  }
  const source: RestoreSource = {
    name: document.name,
    reference: { ...document.reference },
    resource: { ...document.resource },
    verb: document.verb ?? 'restore',
    placement: document.placement ? { ...document.placement } : { mode: 'none' },
    restored: { ...document.restored },
  };
  if (document.ready) source.ready = { condition: document.ready.condition, status: document.ready.status ?? 'True' };
  if (document.template) source.template = { ...document.template };
  if (document.sourcePod) source.sourcePod = { ...document.sourcePod };
  return source;
}

/**
 * Two sources may not share a name, nor a reference (a Pod's reference must name one source); two that
 * share a resource must agree on where its objects name their source Pod (a new object is one capture).
 */
function sourceConflicts(sources: RestoreSource[]): string[] {
  const errors: string[] = [];
  const names = new Map<string, number>();
  const references = new Map<string, number>();
  const resources = new Map<string, { index: number; sourcePod: string | undefined }>();
  for (const [index, source] of sources.entries()) {
    const resource = `${source.resource.resource}.${source.resource.group}`;
    const sameResource = resources.get(resource);
    if (sameResource === undefined) resources.set(resource, { index, sourcePod: source.sourcePod?.path });
    else if (sameResource.sourcePod !== source.sourcePod?.path) {
      errors.push(`/sources/${index}/sourcePod: ${resource} is also read by /sources/${sameResource.index}, whose sourcePod differs`);
    }
    const sameName = names.get(source.name);
    if (sameName !== undefined) errors.push(`/sources/${index}: the name ${source.name} is already used by /sources/${sameName}`);
    else names.set(source.name, index);
    const key = referenceKey(source);
    const sameReference = references.get(key);
    if (sameReference !== undefined) errors.push(`/sources/${index}: ${referenceText(source)} is already read by /sources/${sameReference}`);
    else references.set(key, index);
  }
  return errors;
}

/** Validates a policy document (YAML or JSON text); an empty document means every default. */
export function parsePolicy(text: string): PolicyResult {
  if (Buffer.byteLength(text) > MAX_POLICY_BYTES) {
    return { ok: false, errors: [`the policy is larger than ${MAX_POLICY_BYTES / 1024} KiB`] };
  }
  let document: unknown;
  try {
    document = text.trim() === '' ? { apiVersion: POLICY_API_VERSION, kind: POLICY_KIND } : parseYaml(text, { maxAliasCount: MAX_POLICY_ALIASES });
  } catch (error) {
    return { ok: false, errors: [`not valid YAML: ${(error as Error).message}`] };
  }
  if (!validateDocument(document)) {
    // An if/then/else failure repeats the branch's own errors: only those are reported.
    return { ok: false, errors: (validateDocument.errors ?? []).filter((e) => e.keyword !== 'if').map(describe) };
  }
  const crossField = crossFieldErrors(document);
  if (crossField.length > 0) return { ok: false, errors: crossField };

  const policy = defaultPolicy();
  Object.assign(policy.checkpointAPI, document.checkpointAPI);
  const cache = document.authorizationCache ?? {};
  if (cache.allowedTTL !== undefined) policy.authorizationCache.allowedTtlMs = parseDuration(cache.allowedTTL) ?? 0;
  if (cache.deniedTTL !== undefined) policy.authorizationCache.deniedTtlMs = parseDuration(cache.deniedTTL) ?? 0;
  if (cache.maxEntries !== undefined) policy.authorizationCache.maxEntries = cache.maxEntries;
  if (document.mode) policy.mode = document.mode;
  if (document.namespaceModes) policy.namespaceModes = { ...document.namespaceModes };
  if (document.placement) policy.placement = document.placement;
  if (document.requireReady !== undefined) policy.requireReady = document.requireReady;
  if (document.specEquality) policy.specEquality = document.specEquality;
  if (document.maxCheckpointAge) policy.maxCheckpointAgeMs = parseDuration(document.maxCheckpointAge);
  if (document.serviceAccountToken) policy.serviceAccountToken = document.serviceAccountToken;
  if (document.failureMode) policy.failureMode = document.failureMode;
  const namespaces = document.namespaces ?? {};
  policy.namespaces = { include: namespaces.include ?? [], exclude: namespaces.exclude ?? [] };
  if (namespaces.selector) {
    policy.namespaces.selector = {
      matchLabels: namespaces.selector.matchLabels ?? {},
      matchExpressions: (namespaces.selector.matchExpressions ?? []).map((e) => ({ key: e.key, operator: e.operator, values: e.values ?? [] })),
    };
  }
  const workloads = document.workloads ?? {};
  if (workloads.delegation) policy.workloads.delegation = workloads.delegation;
  if (workloads.controllers) policy.workloads.controllers = [...workloads.controllers];
  if (workloads.kinds) policy.workloads.kinds = workloads.kinds.map((kind) => ({ ...kind }));
  const checkpoints = document.checkpoints ?? {};
  if (checkpoints.guard) policy.checkpoints.guard = checkpoints.guard;
  if (checkpoints.access) {
    // Given whole: a partial access must not inherit exec from the default.
    const { verb, group = '', resource, subresource = '' } = checkpoints.access;
    policy.checkpoints.access = { verb, group, resource, subresource };
  }
  if (document.sources) {
    policy.sources = document.sources.map(configuredSource);
    const conflicts = sourceConflicts(sourcesOf(policy));
    if (conflicts.length > 0) return { ok: false, errors: conflicts };
  }
  return { ok: true, policy };
}
