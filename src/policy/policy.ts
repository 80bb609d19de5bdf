/** Everything an admin can tune, as the rules read it. Built only by `parsePolicy` or `defaultPolicy`. */
export interface Policy {
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
}

export function defaultPolicy(): Policy {
  return {
    checkpointAPI: { group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', verb: 'restore' },
    authorizationCache: { allowedTtlMs: 10_000, deniedTtlMs: 5_000, maxEntries: 10_000 },
  };
}
