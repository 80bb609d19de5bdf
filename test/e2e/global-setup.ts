// Starts one control plane for the whole e2e run and stops it at the end, also when tests fail. A watchdog
// kills etcd, kube-apiserver and kube-controller-manager if this process dies without running its teardown (see harness/processes.ts).
import type { TestProject } from 'vitest/node';
import { startControlPlane, type ControlPlaneInfo } from '../../harness/controlplane/controlplane.js';

declare module 'vitest' {
  export interface ProvidedContext {
    controlPlane: ControlPlaneInfo;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const controlPlane = await startControlPlane({ log: (line) => console.log(`[e2e] ${line}`) });
  // eslint-disable-next-line @typescript-eslint/unbound-method -- stop is only left out of what tests get, never called from here
  const { supervisor: _supervisor, etcd: _etcd, apiserver: _apiserver, controllerManager: _controllerManager, stop: _stop, ...info } = controlPlane;
  console.log(`[e2e] control plane ready in ${((Date.now() - started) / 1000).toFixed(1)} s; logs and state in ${info.dir}`);
  project.provide('controlPlane', info);
  return async () => {
    await controlPlane.stop();
  };
}
