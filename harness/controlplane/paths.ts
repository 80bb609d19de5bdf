import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The repository: the nearest folder above this file with controlplane/build.sh (also when compiled elsewhere). */
function findRepo(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'controlplane', 'build.sh')) && existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`cannot find the restore-guard repository above ${from}`);
  }
}

export const REPO = findRepo(import.meta.dirname);
export const MANIFESTS = join(REPO, 'manifests');
export const RESTORE_GUARD_MAIN = join(REPO, 'dist', 'cli', 'main.js');

/** Where `npm run controlplane:build` puts its products (see controlplane/build.sh). */
export function controlPlaneCache(): string {
  return process.env.RESTORE_GUARD_CONTROLPLANE_CACHE ?? join(REPO, '.cache', 'controlplane');
}

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
  /** build.json of the build: versions, seconds, sizes. */
  build: { kubernetes: string; etcd: string; seconds: number; bytes: Record<string, number> };
}

export function findBinaries(): Binaries {
  const bin = join(controlPlaneCache(), 'bin');
  const binaries = { etcd: join(bin, 'etcd'), kubeApiserver: join(bin, 'kube-apiserver'), kubeControllerManager: join(bin, 'kube-controller-manager'), kubectl: join(bin, 'kubectl') };
  const missing = Object.values(binaries).filter((file) => !existsSync(file));
  if (missing.length > 0 || !existsSync(join(bin, 'build.json'))) {
    throw new Error(`the control plane is not built (missing ${missing.join(', ') || 'build.json'}): run npm run controlplane:build`);
  }
  return { ...binaries, build: JSON.parse(readFileSync(join(bin, 'build.json'), 'utf8')) as Binaries['build'] };
}
