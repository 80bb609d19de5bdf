import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { DURATION_PATTERN, parseDuration } from './duration.js';
import { defaultPolicy, type Policy } from './policy.js';

export const POLICY_API_VERSION = 'restore-guard.dev/v1alpha1';
export const POLICY_KIND = 'RestorePolicy';

const name = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' };
const duration = { type: 'string', pattern: DURATION_PATTERN };

// The document admins write. Unknown keys are errors: a typo must not silently keep a default.
const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind'],
  properties: {
    apiVersion: { const: POLICY_API_VERSION },
    kind: { const: POLICY_KIND },
    checkpointAPI: {
      type: 'object',
      additionalProperties: false,
      properties: { group: name, version: name, resource: name, verb: name },
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
  },
} as const;

interface PolicyDocument {
  apiVersion: string;
  kind: string;
  checkpointAPI?: Partial<Policy['checkpointAPI']>;
  authorizationCache?: { allowedTTL?: string; deniedTTL?: string; maxEntries?: number };
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
  return `${at}: ${error.message ?? 'is invalid'}`;
}

/** Validates a policy document (YAML or JSON text); an empty document means every default. */
export function parsePolicy(text: string): PolicyResult {
  let document: unknown;
  try {
    document = text.trim() === '' ? { apiVersion: POLICY_API_VERSION, kind: POLICY_KIND } : parseYaml(text);
  } catch (error) {
    return { ok: false, errors: [`not valid YAML: ${(error as Error).message}`] };
  }
  if (!validateDocument(document)) {
    return { ok: false, errors: (validateDocument.errors ?? []).map(describe) };
  }
  const policy = defaultPolicy();
  Object.assign(policy.checkpointAPI, document.checkpointAPI);
  const cache = document.authorizationCache ?? {};
  if (cache.allowedTTL !== undefined) policy.authorizationCache.allowedTtlMs = parseDuration(cache.allowedTTL) ?? 0;
  if (cache.deniedTTL !== undefined) policy.authorizationCache.deniedTtlMs = parseDuration(cache.deniedTTL) ?? 0;
  if (cache.maxEntries !== undefined) policy.authorizationCache.maxEntries = cache.maxEntries;
  return { ok: true, policy };
}
