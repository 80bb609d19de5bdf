// Realistic AdmissionReview bodies for the benchmark: a 4-container Pod of about 8 KB, the same Pod
// restoring from a checkpoint (already pinned, as /validate sees it after /mutate), and a 1 MiB UPDATE.
import type { JsonObject } from '../src/common/json.js';

export const NAMESPACE = 'team-a';
export const CHECKPOINT = 'ckpt';
export const NODE = 'node-a';
/** Every benchmark user is in this group; the fake API grants it `restore` in NAMESPACE. */
export const GROUP = 'devs';

function container(index: number, envCount = 12): JsonObject {
  const name = ['app', 'sidecar-proxy', 'log-shipper', 'metrics-exporter'][index % 4] ?? `c${index}`;
  return {
    name,
    image: `registry.example.com/team-a/${name}@sha256:${String(index).repeat(64).slice(0, 64)}`,
    imagePullPolicy: 'IfNotPresent',
    command: ['/usr/local/bin/entrypoint'],
    args: ['--config=/etc/config/app.yaml', `--listen=:${8080 + index}`, '--log-format=json', '--log-level=info'],
    ports: [
      { name: 'http', containerPort: 8080 + index, protocol: 'TCP' },
      { name: 'metrics', containerPort: 9090 + index, protocol: 'TCP' },
    ],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      { name: 'NODE_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'spec.nodeName' } } },
      { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db-credentials', key: 'password' } } },
      ...Array.from({ length: envCount }, (_, i) => ({ name: `FEATURE_FLAG_${index}_${i}`, value: `value-${i}-enabled` })),
    ],
    resources: {
      requests: { cpu: index === 0 ? '500m' : '100m', memory: index === 0 ? '512Mi' : '64Mi' },
      limits: { cpu: index === 0 ? '2' : '200m', memory: index === 0 ? '1Gi' : '128Mi' },
    },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/config', readOnly: true },
      { name: 'data', mountPath: '/var/lib/app' },
      { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ],
    livenessProbe: {
      httpGet: { path: '/healthz', port: 8080 + index, scheme: 'HTTP' },
      initialDelaySeconds: 10,
      periodSeconds: 10,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: { path: '/readyz', port: 8080 + index, scheme: 'HTTP' },
      periodSeconds: 5,
      timeoutSeconds: 1,
      successThreshold: 1,
      failureThreshold: 3,
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 10001,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  };
}

/** The spec of a 4-container Pod as kube-apiserver sends it (defaults filled in). */
export function podSpec(envCount = 12): JsonObject {
  return {
    containers: [0, 1, 2, 3].map((i) => container(i, envCount)),
    volumes: [
      { name: 'config', configMap: { name: 'app-config', defaultMode: 420 } },
      { name: 'data', emptyDir: { sizeLimit: '1Gi' } },
      {
        name: 'kube-api-access-x7k2p',
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
          ],
        },
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: 'app',
    serviceAccount: 'app',
    securityContext: { fsGroup: 10001, runAsNonRoot: true },
    schedulerName: 'default-scheduler',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
    priority: 0,
    enableServiceLinks: true,
    preemptionPolicy: 'PreemptLowerPriority',
  };
}

export function pinnedAffinity(node = NODE): JsonObject {
  return {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: [node] }] }],
      },
    },
  };
}

function podMetadata(name: string): JsonObject {
  return {
    name,
    namespace: NAMESPACE,
    labels: { app: 'shop', component: 'checkout', 'pod-template-hash': '7d9f8b6c5', 'app.kubernetes.io/version': '1.42.0' },
    annotations: {
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '9090',
      'kubectl.kubernetes.io/default-container': 'app',
    },
  };
}

export function pod(name = 'checkout-7d9f8b6c5-x2x7z'): JsonObject {
  return { apiVersion: 'v1', kind: 'Pod', metadata: podMetadata(name), spec: podSpec() };
}

/** The same Pod restoring from CHECKPOINT and already pinned, as the validating webhook sees it. */
export function restorePod(name = 'checkout-restored'): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: podMetadata(name),
    spec: { ...podSpec(), affinity: pinnedAffinity(), restoreFrom: { name: CHECKPOINT } },
  };
}

/** The PodCheckpoint the restore Pod matches: Ready, on NODE, with the Pod's spec as its template. */
export function checkpointObject(): JsonObject {
  return {
    apiVersion: 'node.k8s.io/v1alpha1',
    kind: 'PodCheckpoint',
    metadata: { name: CHECKPOINT, namespace: NAMESPACE },
    spec: { sourcePod: { name: 'checkout-7d9f8b6c5-x2x7z' }, timeoutSeconds: 60 },
    status: {
      nodeName: NODE,
      conditions: [{ type: 'Ready', status: 'True', reason: 'CheckpointCompleted' }],
      checkpointedPodTemplate: { metadata: { labels: { app: 'shop' } }, spec: podSpec() },
    },
  };
}

export interface User {
  username: string;
  uid: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export function user(username = 'alice'): User {
  return {
    username,
    uid: `uid-${username}`,
    groups: [GROUP, 'system:authenticated'],
    extra: { 'authentication.kubernetes.io/credential-id': ['X509SHA256=4b7a2f'] },
  };
}

export interface ReviewOptions {
  uid?: string;
  operation?: 'CREATE' | 'UPDATE';
  object: JsonObject;
  oldObject?: JsonObject;
  userInfo?: User;
}

/** An AdmissionReview (admission.k8s.io/v1) as kube-apiserver sends it. */
export function review(options: ReviewOptions): JsonObject {
  const object = options.object;
  const metadata = object.metadata as JsonObject;
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: options.uid ?? '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: options.operation === 'UPDATE' ? metadata.name : '',
      namespace: NAMESPACE,
      operation: options.operation ?? 'CREATE',
      userInfo: (options.userInfo ?? user()) as unknown as JsonObject,
      object,
      oldObject: options.oldObject ?? null,
      dryRun: false,
      options: { kind: options.operation === 'UPDATE' ? 'UpdateOptions' : 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

export const passThroughBody = (): string => JSON.stringify(review({ object: pod() }));
export const restoreBody = (): string => JSON.stringify(review({ object: restorePod() }));

const USER_MARK = '__BENCH_USER__';

/** A restore review whose username varies: `(n) => body` is a cheap string join, no JSON work. */
export function restoreBodyForUser(): (name: string) => string {
  const text = JSON.stringify(review({ object: restorePod(), userInfo: user(USER_MARK) }));
  const parts = text.split(USER_MARK);
  return (name) => parts.join(name);
}

/**
 * A 1 MiB UPDATE review of a restoring Pod that is not restored yet: a label changes, the spec does not
 * (so every rule runs to the end and the review is allowed). Each Pod is about 512 KiB: a large
 * last-applied-configuration annotation and long env lists.
 */
export function bigUpdateBody(targetBytes = 1024 * 1024): string {
  const make = (blob: string, label: string): JsonObject => {
    const spec = { ...podSpec(300), affinity: pinnedAffinity(), restoreFrom: { name: CHECKPOINT } };
    const metadata = podMetadata('checkout-restored');
    (metadata.labels as JsonObject).revision = label;
    (metadata.annotations as JsonObject)['kubectl.kubernetes.io/last-applied-configuration'] = blob;
    return { apiVersion: 'v1', kind: 'Pod', metadata, spec, status: { phase: 'Pending', conditions: [] } };
  };
  const bare = JSON.stringify(review({ operation: 'UPDATE', object: make('', 'b'), oldObject: make('', 'a') }));
  const blobLength = Math.max(0, Math.floor((targetBytes - bare.length) / 2));
  // Real last-applied-configuration is JSON inside a string: full of escaped quotes, slower to parse than 'xxx'.
  const unit = JSON.stringify(container(0));
  const escapedRatio = JSON.stringify(unit).length / unit.length;
  const blob = unit.repeat(Math.ceil(blobLength / escapedRatio / unit.length) + 1).slice(0, Math.floor(blobLength / escapedRatio));
  return JSON.stringify(review({ operation: 'UPDATE', object: make(blob, 'b'), oldObject: make(blob, 'a') }));
}

/** `count` pseudo-random digits, never 0, from a fixed seed: the same body every run. */
function pseudoDigits(count: number, seed: number): string {
  const out: string[] = [];
  let x = seed;
  for (let i = 0; i < count; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out.push(String(1 + (x % 9)));
  }
  return out.join('');
}

/**
 * The worst case of issue #11 item 3: an UPDATE of a restoring Pod that is not restored yet, whose old and
 * new spec carry different `digitCount`-digit quantities ("0.<digits>") as a container's CPU limit and as the
 * `limits` key of a csi volume's volumeAttributes. The answer is a denial (the spec is frozen, both paths
 * named). Before quantities were bounded and placed, each of the four texts cost ~1.3 s of BigInt arithmetic.
 */
export function longQuantityUpdateBody(digitCount = 40_000): string {
  const make = (seed: number, label: string): JsonObject => {
    const quantity = `0.${pseudoDigits(digitCount, seed)}`;
    const spec = podSpec();
    const first = (spec.containers as JsonObject[])[0] as JsonObject;
    first.resources = { ...(first.resources as JsonObject), limits: { cpu: quantity, memory: '1Gi' } };
    spec.volumes = [
      ...(spec.volumes as JsonObject[]),
      { name: 'attributes', csi: { driver: 'csi.example.com', volumeAttributes: { limits: quantity, tier: 'gold' } } },
    ];
    const metadata = podMetadata('checkout-restored');
    (metadata.labels as JsonObject).revision = label;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata,
      spec: { ...spec, affinity: pinnedAffinity(), restoreFrom: { name: CHECKPOINT } },
      status: { phase: 'Pending', conditions: [] },
    };
  };
  return JSON.stringify(review({ operation: 'UPDATE', object: make(2, 'b'), oldObject: make(1, 'a') }));
}

/**
 * `count` PodCheckpoints of about 11 KB each (the restore Pod's spec as template) across `namespaces`
 * namespaces, made on demand from their index: cp-<i> in scale-<i % namespaces>. The JSON is built by
 * splicing names into one pre-rendered text, so the fake API can stream 100,000 of them cheaply.
 */
export function generatedCheckpoints(count: number, namespaces = 1000) {
  const template = JSON.stringify({ metadata: { labels: { app: 'shop' } }, spec: podSpec() });
  const tail =
    `,"spec":{"sourcePod":{"name":"checkout-7d9f8b6c5-x2x7z"},"timeoutSeconds":60},"status":{"nodeName":"${NODE}",` +
    `"completionTime":"2026-01-01T00:00:00Z","conditions":[{"type":"Ready","status":"True","reason":"CheckpointCompleted"}],` +
    `"checkpointedPodTemplate":${template}}}`;
  const namespaceOf = (index: number): string => `scale-${index % namespaces}`;
  return {
    count,
    resourceVersion: 1,
    namespaceOf,
    text: (index: number, resourceVersion: string): string =>
      `{"apiVersion":"node.k8s.io/v1alpha1","kind":"PodCheckpoint","metadata":{"name":"cp-${index}","namespace":"${namespaceOf(index)}",` +
      `"resourceVersion":"${resourceVersion}","uid":"00000000-0000-0000-0000-${String(index).padStart(12, '0')}"}${tail}`,
    indexOf: (namespace: string, name: string): number | undefined => {
      const match = /^cp-(\d+)$/.exec(name);
      const index = match ? Number(match[1]) : Number.NaN;
      return index >= 0 && index < count && namespaceOf(index) === namespace ? index : undefined;
    },
  };
}

export const SMALL_CHECKPOINT = 'ckpt-small';

/** The spec of a one-container Pod (about 1 KB): with the review around it, a body of about 2 KB. */
export function smallPodSpec(): JsonObject {
  const spec = podSpec(2);
  const [first] = spec.containers as JsonObject[];
  return { ...spec, containers: first ? [first] : [], volumes: [] };
}

/** The small Pod restoring from SMALL_CHECKPOINT, pinned, as the validating webhook sees it. */
export const smallRestoreBody = (): string =>
  JSON.stringify(
    review({
      object: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'small-restored', namespace: NAMESPACE, labels: { app: 'small' } },
        spec: { ...smallPodSpec(), affinity: pinnedAffinity(), restoreFrom: { name: SMALL_CHECKPOINT } },
      },
    }),
  );

/** The PodCheckpoint the small restore Pod matches. */
export function smallCheckpointObject(): JsonObject {
  const object = checkpointObject();
  (object.metadata as JsonObject).name = SMALL_CHECKPOINT;
  (object.status as JsonObject).checkpointedPodTemplate = { metadata: { labels: { app: 'small' } }, spec: smallPodSpec() };
  return object;
}
