import { dictionary, isObject, type JsonObject } from '../common/json.js';
import type { AdmissionRequest, Operation, UserInfo } from './request.js';

export const ADMISSION_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type AdmissionVersion = (typeof ADMISSION_VERSIONS)[number];

/**
 * A body as restore-guard reads it:
 * - `rejected`: not an AdmissionReview we can answer in kind (no version we speak, no uid): HTTP 400;
 * - `invalid`: an AdmissionReview with a uid but a request of the wrong shape: a denial with code 400;
 * - `review`: a request checked for shape, ready for the rules.
 */
export type ParsedReview =
  | { kind: 'rejected'; message: string }
  | { kind: 'invalid'; apiVersion: AdmissionVersion; uid: string; problems: string[] }
  | { kind: 'review'; apiVersion: AdmissionVersion; request: AdmissionRequest };

const OPERATIONS = new Set<string>(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']);

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function optionalString(source: JsonObject, key: string, at: string, problems: string[]): string {
  const value = source[key];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') problems.push(`${at}.${key} must be a string`);
  return typeof value === 'string' ? value : '';
}

function readUserInfo(value: unknown, problems: string[]): UserInfo {
  const user: UserInfo = { username: '', groups: [], extra: dictionary() };
  if (!isObject(value)) {
    problems.push('request.userInfo must be an object');
    return user;
  }
  user.username = optionalString(value, 'username', 'request.userInfo', problems);
  const uid = optionalString(value, 'uid', 'request.userInfo', problems);
  if (uid) user.uid = uid;
  if (value.groups !== undefined && value.groups !== null) {
    if (isStringArray(value.groups)) user.groups = value.groups;
    else problems.push('request.userInfo.groups must be a list of strings');
  }
  if (value.extra !== undefined && value.extra !== null) {
    if (!isObject(value.extra)) problems.push('request.userInfo.extra must be a map of string lists');
    else {
      for (const [key, values] of Object.entries(value.extra)) {
        if (isStringArray(values)) user.extra[key] = values;
        else problems.push(`request.userInfo.extra[${JSON.stringify(key)}] must be a list of strings`);
      }
    }
  }
  return user;
}

function readGroupVersion(value: unknown, field: string, leaf: 'kind' | 'resource', problems: string[]) {
  if (!isObject(value)) {
    problems.push(`request.${field} must be an object`);
    return { group: '', version: '', name: '' };
  }
  const at = `request.${field}`;
  return {
    group: optionalString(value, 'group', at, problems),
    version: optionalString(value, 'version', at, problems),
    name: optionalString(value, leaf, at, problems),
  };
}

function readObject(value: unknown, field: string, problems: string[]): JsonObject | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) problems.push(`request.${field} must be an object`);
  return isObject(value) ? value : undefined;
}

/** Checks the shape of a review before any rule runs: anyone on the network can POST a body. */
export function parseReview(body: unknown): ParsedReview {
  if (!isObject(body)) return { kind: 'rejected', message: 'the body must be a JSON AdmissionReview object' };
  const { apiVersion, kind, request } = body;
  if (kind !== 'AdmissionReview') return { kind: 'rejected', message: 'kind must be AdmissionReview' };
  if (!ADMISSION_VERSIONS.includes(apiVersion as AdmissionVersion)) {
    return { kind: 'rejected', message: `apiVersion must be one of ${ADMISSION_VERSIONS.join(', ')}` };
  }
  const version = apiVersion as AdmissionVersion;
  if (!isObject(request)) return { kind: 'rejected', message: 'request must be an object' };
  if (typeof request.uid !== 'string' || request.uid === '') {
    return { kind: 'rejected', message: 'request.uid must be a non-empty string' };
  }
  const uid = request.uid;
  const problems: string[] = [];
  const resource = readGroupVersion(request.resource, 'resource', 'resource', problems);
  readGroupVersion(request.kind, 'kind', 'kind', problems);
  const operation = request.operation;
  if (typeof operation !== 'string' || !OPERATIONS.has(operation)) {
    problems.push('request.operation must be one of CREATE, UPDATE, DELETE, CONNECT');
  }
  const parsed: AdmissionRequest = {
    uid,
    group: resource.group,
    version: resource.version,
    resource: resource.name,
    subResource: optionalString(request, 'subResource', 'request', problems),
    namespace: optionalString(request, 'namespace', 'request', problems),
    name: optionalString(request, 'name', 'request', problems),
    operation: operation as Operation,
    userInfo: readUserInfo(request.userInfo, problems),
    dryRun: request.dryRun === true,
  };
  if (request.dryRun !== undefined && request.dryRun !== null && typeof request.dryRun !== 'boolean') {
    problems.push('request.dryRun must be a boolean');
  }
  const object = readObject(request.object, 'object', problems);
  const oldObject = readObject(request.oldObject, 'oldObject', problems);
  if (object) parsed.object = object;
  if (oldObject) parsed.oldObject = oldObject;
  if (problems.length > 0) return { kind: 'invalid', apiVersion: version, uid, problems };
  return { kind: 'review', apiVersion: version, request: parsed };
}
