import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { DURATION_PATTERN, parseDuration } from '../common/duration.js';
import { defaultPolicy, type LabelSelector, type Mode, type Policy } from './policy.js';

export const POLICY_API_VERSION = 'restore-guard.dev/v1alpha1';
export const POLICY_KIND = 'RestorePolicy';
/** A ConfigMap value is at most 1 MiB; a policy is a few hundred bytes. Refuse anything absurd early. */
export const MAX_POLICY_BYTES = 256 * 1024;
/** A policy has little use for YAML aliases; a low bound stops expansion bombs far below the library's 100. */
const MAX_POLICY_ALIASES = 16;

const dnsName = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' };
const namespaceName = { type: 'string', minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' };
const duration = { type: 'string', pattern: DURATION_PATTERN };
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
  },
} as const;

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
    return { ok: false, errors: (validateDocument.errors ?? []).map(describe) };
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
  return { ok: true, policy };
}
