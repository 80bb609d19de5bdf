// What every e2e file shares: the control plane from the global setup, and one restore-guard registered
// through the shipped webhook configurations (plus the relay for the e2e test CRD).
import { POLICY_CONFIGMAP, run, type ControlPlaneInfo } from './controlplane.js';
import { registerWebhooks, startRestoreGuard, startReviewRelay, type RestoreGuard, type RestoreGuardOptions, type ReviewRelay } from './restoreguard.js';

export interface Suite {
  restoreGuard: RestoreGuard;
  relay: ReviewRelay;
  close(): Promise<void>;
}

/** The webhook configurations registerWebhooks() applies: the shipped ones and their twins for the e2e test CRD. */
const REGISTERED = ['restore-guard', 'restore-guard-e2e-test-pods'];

/** restore-guard reads its policy live from the installed ConfigMap, as the shipped Deployment does. */
export const POLICY_ARGS = ['--policy-configmap', `${POLICY_CONFIGMAP.namespace}/${POLICY_CONFIGMAP.name}`];

export async function startSuite(info: ControlPlaneInfo, options: RestoreGuardOptions = {}): Promise<Suite> {
  const restoreGuard = await startRestoreGuard(info, { ...options, args: options.args ?? POLICY_ARGS });
  let relay: ReviewRelay | undefined;
  try {
    relay = await startReviewRelay(info, () => restoreGuard.port);
    await registerWebhooks(info, restoreGuard, relay);
  } catch (error) {
    await relay?.close();
    await restoreGuard.close();
    throw error;
  }
  const started = relay;
  return {
    restoreGuard,
    relay: started,
    close: async () => {
      try {
        // Nothing may be left pointing at a stopped restore-guard: the capture entries (failurePolicy Fail) match
        // every new PodCheckpoint that names a Pod, so a later file that runs no restore-guard could not create one.
        await run(info, ['delete', '--ignore-not-found', 'mutatingwebhookconfiguration,validatingwebhookconfiguration', ...REGISTERED]);
      } finally {
        await started.close();
        await restoreGuard.close();
      }
    },
  };
}
