import { own } from '../common/json.js';
import { memoizedPer } from '../common/memo.js';
import { kep5823Source, type RestoreSource } from './sources.js';
import { DEFAULT_CONTROLLERS, type Delegation, type WorkloadKind } from './workloads.js';

/** How a denial is delivered: as a denial, as a warning on an allowed request, or only in the audit log. */
export type Mode = 'enforce' | 'warn' | 'audit';
/** Where a restored Pod is placed: upstream's required node affinity, a direct nodeName, or not at all. */
export type Placement = 'nodeAffinity' | 'nodeName' | 'none';
export type Check = 'enforce' | 'warn' | 'off';
export type ServiceAccountTokenRule = 'ignore' | 'warn' | 'require-disabled';

export interface LabelSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values: string[];
}

export interface LabelSelector {
  matchLabels: Record<string, string>;
  matchExpressions: LabelSelectorRequirement[];
}

/** Everything an admin can tune, as the rules read it. Built only by `parsePolicy` or `defaultPolicy`. */
export interface Policy {
  mode: Mode;
  /** Per-namespace mode, for rolling enforcement out one namespace at a time. */
  namespaceModes: Record<string, Mode>;
  /** Where the PodCheckpoint API lives and which verb grants a restore; upstream has moved it before. */
  checkpointAPI: {
    group: string;
    version: string;
    resource: string;
    verb: string;
  };
  authorizationCache: {
    allowedTtlMs: number;
    deniedTtlMs: number;
    maxEntries: number;
  };
  placement: Placement;
  requireReady: boolean;
  specEquality: Check;
  /** Oldest usable checkpoint, from `status.completionTime`; undefined: no limit. */
  maxCheckpointAgeMs?: number;
  serviceAccountToken: ServiceAccountTokenRule;
  /** Where restoring is permitted at all, whatever RBAC says. Empty include: every namespace. */
  namespaces: {
    include: string[];
    exclude: string[];
    selector?: LabelSelector;
  };
  /** What an API error or a spent deadline does to a restore: deny (closed) or allow with a warning (open). */
  failureMode: 'closed' | 'open';
  /**
   * The restore systems guarded, in the policy's order. KEP-5823 stays a reference to the top-level fields
   * (checkpointAPI, placement), which describe it: see sourcesOf.
   */
  sources: ConfiguredSource[];
  /** Restores written in workload templates: who wrote them is checked; controllers may be trusted to copy them. */
  workloads: {
    delegation: Delegation;
    /** The identities trusted to copy a checked template into Pods and other workloads. */
    controllers: string[];
    /** Kinds beyond the built-in ones (e.g. LeaderWorkerSet), with the path of their Pod template. */
    kinds: WorkloadKind[];
  };
  /** Taking a checkpoint dumps the source Pod's memory: the access that requires on the source Pod. */
  checkpoints: {
    guard: Check;
    access: CaptureAccess;
  };
}

/** What a requester needs on a checkpoint's source Pod (by default exec, which reaches into its processes). */
export interface CaptureAccess {
  verb: string;
  /** The source Pod's API group: core (''), unless an admin points the check elsewhere. */
  group: string;
  resource: string;
  /** '' for none. */
  subresource: string;
}

/** A source as the policy holds it: KEP-5823 by reference to the top-level fields, any other spelled out. */
export type ConfiguredSource = { preset: 'kep-5823' } | RestoreSource;

/** The policy's sources with every field spelled out (once per policy: it never changes once built, and every review asks). */
export const sourcesOf: (policy: Policy) => RestoreSource[] = memoizedPer((policy) =>
  policy.sources.map((source) => ('name' in source ? source : kep5823Source(policy))),
);

export function defaultPolicy(): Policy {
  return {
    mode: 'enforce',
    namespaceModes: {},
    checkpointAPI: { group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', verb: 'restore' },
    authorizationCache: { allowedTtlMs: 10_000, deniedTtlMs: 5_000, maxEntries: 10_000 },
    placement: 'nodeAffinity',
    requireReady: true,
    specEquality: 'enforce',
    serviceAccountToken: 'warn',
    namespaces: { include: [], exclude: [] },
    failureMode: 'closed',
    sources: [{ preset: 'kep-5823' }],
    workloads: { delegation: 'disabled', controllers: [...DEFAULT_CONTROLLERS], kinds: [] },
    checkpoints: { guard: 'enforce', access: { verb: 'create', group: '', resource: 'pods', subresource: 'exec' } },
  };
}

export function modeFor(policy: Policy, namespace: string): Mode {
  return own(policy.namespaceModes, namespace) ?? policy.mode;
}
