import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DEFAULTS } from '../../src/certs/authority.js';
import { parseServeOptions } from '../../src/cli/options.js';
import { parsePolicy } from '../../src/policy/parse.js';
import { defaultPolicy } from '../../src/policy/policy.js';
import { BUILT_IN_WORKLOADS } from '../../src/policy/workloads.js';
import { at } from '../support/json-path.js';
import { SOURCE_PRESETS, sourceNames } from './sources.js';

/**
 * Reads every manifest as written (no kustomize; the render test covers that) and checks the fields an
 * admin relies on: least-privilege RBAC, a Deployment that survives rollouts and drains, webhooks that
 * fail closed yet can never block anything but restores, and the companion policy.
 */

const ROOT = join(import.meta.dirname, '..', '..');
/** The built-in workload kinds restore-guard checks the writers of (src/policy/workloads.ts), as group/resource. */
const WORKLOAD_RESOURCES = BUILT_IN_WORKLOADS.map((w) => `${w.group}/${w.resource}`);
const MANIFESTS = join(ROOT, 'manifests');
// Another part of the project owns the stand-in CRD; it is only referenced here.
const NOT_OURS = join(MANIFESTS, 'components', 'podcheckpoint-standin');

type Obj = Record<string, unknown>;
const obj = (value: unknown): Obj => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`not an object: ${JSON.stringify(value)}`);
  return value as Obj;
};
const arr = (value: unknown): unknown[] => {
  if (!Array.isArray(value)) throw new Error(`not a list: ${JSON.stringify(value)}`);
  return value;
};

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (path === NOT_OURS) return [];
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

function documents(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    return doc.toJS() as unknown;
  });
}

const base = yamlFiles(join(MANIFESTS, 'base'))
  .filter((file) => !file.endsWith('kustomization.yaml'))
  .flatMap((file) => documents(file).map(obj));
function one(kind: string, name?: string): Obj {
  const found = base.filter((doc) => doc.kind === kind && (name === undefined || at(doc, 'metadata', 'name') === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as Obj;
}

const deployment = one('Deployment', 'restore-guard');
const podSpec = obj(at(deployment, 'spec', 'template', 'spec'));
const podLabels = obj(at(deployment, 'spec', 'template', 'metadata', 'labels'));
const container = obj(arr(podSpec.containers)[0]);
const selects = (selector: unknown) => Object.entries(obj(selector)).every(([key, value]) => podLabels[key] === value);

describe('manifests as written', () => {
  it('parse, each document has apiVersion and kind, and the base lists every file it holds', () => {
    for (const file of yamlFiles(MANIFESTS)) {
      for (const doc of documents(file)) {
        if (Array.isArray(doc)) continue; // a JSON 6902 patch
        expect(obj(doc).apiVersion, relative(ROOT, file)).toEqual(expect.any(String));
        expect(obj(doc).kind, relative(ROOT, file)).toEqual(expect.any(String));
      }
    }
    const kustomization = obj(documents(join(MANIFESTS, 'base', 'kustomization.yaml'))[0]);
    const listed = arr(kustomization.resources).map(String).sort();
    const present = readdirSync(join(MANIFESTS, 'base'))
      .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
      .sort();
    expect(listed).toEqual(present);
  });

  it('puts everything namespaced into the restore-guard namespace', () => {
    expect(one('Namespace', 'restore-guard')).toBeDefined();
    const clusterScoped = new Set([
      'Namespace',
      'ClusterRole',
      'ClusterRoleBinding',
      'MutatingWebhookConfiguration',
      'ValidatingWebhookConfiguration',
      'ValidatingAdmissionPolicy',
      'ValidatingAdmissionPolicyBinding',
    ]);
    for (const doc of base) {
      if (clusterScoped.has(String(doc.kind))) expect(at(doc, 'metadata', 'namespace')).toBeUndefined();
      else expect(at(doc, 'metadata', 'namespace'), `${String(doc.kind)}`).toBe('restore-guard');
    }
  });
});

describe('RBAC: least privilege', () => {
  const ruleSet = (rules: unknown) =>
    arr(rules).flatMap((rule) =>
      arr(at(rule, 'apiGroups')).flatMap((group) =>
        arr(at(rule, 'resources')).flatMap((resource) =>
          arr(at(rule, 'verbs')).map((verb) => {
            const names = at(rule, 'resourceNames');
            return `${String(group)}/${String(resource)}:${String(verb)}${names ? `@${arr(names).join(',')}` : ''}`;
          }),
        ),
      ),
    );

  it('the ClusterRole grants exactly what the webhook needs, with no wildcard', () => {
    expect(ruleSet(one('ClusterRole', 'restore-guard').rules).sort()).toEqual(
      [
        'authorization.k8s.io/subjectaccessreviews:create',
        'node.k8s.io/podcheckpoints:get',
        'node.k8s.io/podcheckpoints:list',
        'node.k8s.io/podcheckpoints:watch',
        'node.k8s.io/runtimeclasses:get',
        'node.k8s.io/runtimeclasses:list',
        'node.k8s.io/runtimeclasses:watch',
        // Only used when the policy sets namespaces.selector.
        '/namespaces:get',
        // Only used with workloads.delegation enabled: the owner a controller's ReplicaSet, Job or Pod names (one GET).
        ...WORKLOAD_RESOURCES.map((resource) => `${resource}:get`),
      ].sort(),
    );
  });

  it('in the webhook namespace only: the policy ConfigMap by name, and Events about it', () => {
    const role = one('Role', 'restore-guard');
    expect(at(role, 'metadata', 'namespace')).toBe('restore-guard');
    expect(ruleSet(role.rules).sort()).toEqual(['/configmaps:get@restore-guard-policy', '/configmaps:watch@restore-guard-policy', '/events:create']);
  });

  it('binds both roles to the webhook ServiceAccount, which the Deployment runs as', () => {
    one('ServiceAccount', 'restore-guard');
    for (const [kind, roleKind, roleName] of [
      ['ClusterRoleBinding', 'ClusterRole', 'restore-guard'],
      ['RoleBinding', 'Role', 'restore-guard'],
    ] as const) {
      const binding = base.find((doc) => doc.kind === kind && at(doc, 'roleRef', 'name') === roleName) as Obj;
      expect(at(binding, 'roleRef', 'kind')).toBe(roleKind);
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'restore-guard', namespace: 'restore-guard' }]);
    }
    expect(podSpec.serviceAccountName).toBe('restore-guard');
  });
});

describe('Deployment', () => {
  const args = arr(container.args).map(String);
  const [command, ...flags] = args;
  const options = parseServeOptions(flags);

  it('runs `serve` with the public flags: 8443, 8080, the mounted pair, the policy ConfigMap, a shutdown delay', () => {
    expect(command).toBe('serve');
    expect(options).toMatchObject({ port: 8443, metricsPort: 8080, policyConfigMap: { namespace: 'restore-guard', name: 'restore-guard-policy' } });
    expect(options.shutdownDelayMs).toBeGreaterThan(0);
    const ports = Object.fromEntries(arr(container.ports).map((p) => [at(p, 'name'), at(p, 'containerPort')]));
    expect(ports).toEqual({ https: 8443, metrics: 8080 });
  });

  it('mounts Secret restore-guard-tls as a directory (no subPath, so renewals reach the pod)', () => {
    const mount = arr(container.volumeMounts)
      .map(obj)
      .find((m) => m.name === 'tls') as Obj;
    expect(mount.subPath).toBeUndefined();
    expect(mount.readOnly).toBe(true);
    expect(dirname(String(options.tlsCertFile))).toBe(mount.mountPath);
    expect(dirname(String(options.tlsPrivateKeyFile))).toBe(mount.mountPath);
    const volume = arr(podSpec.volumes)
      .map(obj)
      .find((v) => v.name === 'tls') as Obj;
    expect(at(volume, 'secret', 'secretName')).toBe('restore-guard-tls');
  });

  it('keeps two or more replicas spread across nodes, and never takes one down before its successor is ready', () => {
    expect(Number(at(deployment, 'spec', 'replicas'))).toBeGreaterThanOrEqual(2);
    expect(at(deployment, 'spec', 'strategy', 'type')).toBe('RollingUpdate');
    expect(at(deployment, 'spec', 'strategy', 'rollingUpdate', 'maxUnavailable')).toBe(0);
    expect(Number(at(deployment, 'spec', 'strategy', 'rollingUpdate', 'maxSurge'))).toBeGreaterThanOrEqual(1);
    const spread = arr(podSpec.topologySpreadConstraints).map(obj);
    const byHost = spread.find((c) => c.topologyKey === 'kubernetes.io/hostname') as Obj;
    expect(byHost.maxSkew).toBe(1);
    expect(selects(at(byHost, 'labelSelector', 'matchLabels'))).toBe(true);
    expect(selects(at(deployment, 'spec', 'selector', 'matchLabels'))).toBe(true);
  });

  it('is system-cluster-critical, with the quota that clusters limiting critical priority classes ask for', () => {
    expect(podSpec.priorityClassName).toBe('system-cluster-critical');
    const quota = one('ResourceQuota');
    expect(at(quota, 'spec', 'scopeSelector', 'matchExpressions')).toEqual([
      { operator: 'In', scopeName: 'PriorityClass', values: ['system-cluster-critical'] },
    ]);
    const replicas = Number(at(deployment, 'spec', 'replicas')) + Number(at(deployment, 'spec', 'strategy', 'rollingUpdate', 'maxSurge'));
    expect(Number(at(quota, 'spec', 'hard', 'pods'))).toBeGreaterThanOrEqual(replicas);
  });

  it('has a PodDisruptionBudget that keeps one replica through drains', () => {
    const pdb = one('PodDisruptionBudget', 'restore-guard');
    expect(selects(at(pdb, 'spec', 'selector', 'matchLabels'))).toBe(true);
    const minAvailable = Number(at(pdb, 'spec', 'minAvailable'));
    expect(minAvailable).toBeGreaterThanOrEqual(1);
    expect(minAvailable).toBeLessThan(Number(at(deployment, 'spec', 'replicas')));
  });

  it('keeps serving through a preStop delay, then drains within the grace period', () => {
    const sleep = Number(at(container, 'lifecycle', 'preStop', 'sleep', 'seconds'));
    expect(sleep).toBeGreaterThan(0);
    expect(Number(podSpec.terminationGracePeriodSeconds)).toBeGreaterThan(sleep + options.shutdownDelayMs / 1000 + 5);
  });

  it('probes liveness and readiness on the metrics port', () => {
    expect(at(container, 'livenessProbe', 'httpGet')).toEqual({ path: '/healthz', port: 'metrics' });
    expect(at(container, 'readinessProbe', 'httpGet')).toEqual({ path: '/readyz', port: 'metrics' });
  });

  it('sets resource requests and limits', () => {
    for (const kind of ['requests', 'limits']) {
      expect(at(container, 'resources', kind, 'cpu'), kind).toBeDefined();
      expect(at(container, 'resources', kind, 'memory'), kind).toBeDefined();
    }
  });

  it('runs restricted: non-root, read-only root filesystem, no privilege escalation, RuntimeDefault seccomp, no capabilities', () => {
    expect(podSpec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(Number(at(podSpec, 'securityContext', 'runAsUser'))).toBeGreaterThan(0);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(at(container, 'securityContext', 'capabilities', 'add')).toBeUndefined();
    expect(podSpec.hostNetwork).toBeUndefined();
    expect(at(one('Namespace', 'restore-guard'), 'metadata', 'labels', 'pod-security.kubernetes.io/enforce')).toBe('restricted');
  });
});

describe('Service and NetworkPolicy', () => {
  it('serves 443 to the https port (8443)', () => {
    const service = one('Service', 'restore-guard');
    expect(selects(at(service, 'spec', 'selector'))).toBe(true);
    const https = arr(at(service, 'spec', 'ports'))
      .map(obj)
      .find((p) => p.port === 443) as Obj;
    expect(https.targetPort).toBe('https');
  });

  it('admits nobody to 8443 in the base (an overlay or the admin lists who), keeps the metrics port open, and nothing else', () => {
    const policy = one('NetworkPolicy', 'restore-guard');
    expect(selects(at(policy, 'spec', 'podSelector', 'matchLabels'))).toBe(true);
    expect(at(policy, 'spec', 'policyTypes')).toEqual(['Ingress']);
    const rules = arr(at(policy, 'spec', 'ingress')).map(obj);
    // A rule without `from` admits every source: only the metrics port may have one.
    expect(rules).toEqual([{ ports: [{ protocol: 'TCP', port: 8080 }] }]);
  });

  it('the example admits 8443 from listed CIDRs only (IP blocks, never pods or namespaces by label, never everything)', () => {
    const patch = obj(documents(join(MANIFESTS, 'examples', 'networkpolicy-control-plane-patch.yaml'))[0]);
    const rules = arr(at(patch, 'spec', 'ingress')).map(obj);
    const admission = rules.find((rule) => arr(rule.ports).some((p) => at(p, 'port') === 8443)) as Obj;
    const peers = arr(admission.from).map(obj);
    expect(peers.length).toBeGreaterThan(0);
    for (const peer of peers) {
      expect(Object.keys(peer)).toEqual(['ipBlock']);
      expect(['0.0.0.0/0', '::/0']).not.toContain(at(peer, 'ipBlock', 'cidr'));
    }
    // It replaces the list, so it must keep the probes' port.
    expect(rules.some((rule) => arr(rule.ports).some((p) => at(p, 'port') === 8080) && rule.from === undefined)).toBe(true);
  });
});

describe('webhook configurations', () => {
  const mutating = one('MutatingWebhookConfiguration', 'restore-guard');
  const validating = one('ValidatingWebhookConfiguration', 'restore-guard');
  const hooks = [...arr(mutating.webhooks), ...arr(validating.webhooks)].map(obj);

  const podHooks = hooks.filter((hook) => hook.name !== 'workloads.restore-guard.dev' && hook.name !== 'capture.restore-guard.dev');
  const workloadHook = obj(arr(validating.webhooks).find((hook) => at(hook, 'name') === 'workloads.restore-guard.dev'));
  const captureHook = obj(arr(validating.webhooks).find((hook) => at(hook, 'name') === 'capture.restore-guard.dev'));

  it('fail closed, quickly, without side effects, for equivalent versions too', () => {
    expect(hooks.map((hook) => hook.name)).toEqual([
      'pin.restore-guard.dev',
      'restore.restore-guard.dev',
      'workloads.restore-guard.dev',
      'capture.restore-guard.dev',
    ]);
    for (const hook of hooks) {
      expect(hook).toMatchObject({ admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Fail', timeoutSeconds: 5, matchPolicy: 'Equivalent' });
      expect(String(hook.name).split('.').length).toBeGreaterThanOrEqual(3);
    }
    expect(obj(arr(mutating.webhooks)[0]).reinvocationPolicy).toBe('IfNeeded');
  });

  it('call the Service on 443, /mutate and /validate', () => {
    expect(at(mutating, 'webhooks', 0, 'clientConfig', 'service')).toEqual({ name: 'restore-guard', namespace: 'restore-guard', path: '/mutate', port: 443 });
    expect(at(validating, 'webhooks', 0, 'clientConfig', 'service')).toEqual({
      name: 'restore-guard',
      namespace: 'restore-guard',
      path: '/validate',
      port: 443,
    });
    expect(at(mutating, 'webhooks', 0, 'clientConfig', 'url')).toBeUndefined();
  });

  it('match pods CREATE (mutating); pods CREATE/UPDATE and pods/resize, pods/ephemeralcontainers UPDATE (validating)', () => {
    const rules = (hook: unknown) =>
      arr(at(hook, 'rules')).flatMap((rule) =>
        arr(at(rule, 'resources')).flatMap((resource) =>
          arr(at(rule, 'operations')).map(
            (op) => `${arr(at(rule, 'apiGroups')).join()}/${arr(at(rule, 'apiVersions')).join()}/${String(resource)}:${String(op)}`,
          ),
        ),
      );
    expect(rules(at(mutating, 'webhooks', 0))).toEqual(['/v1/pods:CREATE']);
    expect(rules(at(validating, 'webhooks', 0)).sort()).toEqual([
      '/v1/pods/ephemeralcontainers:UPDATE',
      '/v1/pods/resize:UPDATE',
      '/v1/pods:CREATE',
      '/v1/pods:UPDATE',
    ]);
  });

  it('the workloads entry: /validate, CREATE and UPDATE of the six built-in workload kinds (main resource only), like the Pod entry otherwise', () => {
    const rules = arr(workloadHook.rules).flatMap((rule) =>
      arr(at(rule, 'resources')).flatMap((resource) =>
        arr(at(rule, 'operations')).map(
          (op) => `${arr(at(rule, 'apiGroups')).join()}/${arr(at(rule, 'apiVersions')).join()}/${String(resource)}:${String(op)}`,
        ),
      ),
    );
    expect(rules.sort()).toEqual(
      BUILT_IN_WORKLOADS.flatMap((w) => [`${w.group}/${w.version}/${w.resource}:CREATE`, `${w.group}/${w.version}/${w.resource}:UPDATE`]).sort(),
    );
    // No subresource: scaling (deployments/scale, ...) and status never reach restore-guard.
    expect(rules.some((rule) => rule.split(':')[0]?.split('/').length !== 3)).toBe(false);
    for (const rule of arr(workloadHook.rules)) expect(at(rule, 'scope')).toBe('Namespaced');
    const { name: _n, rules: _r, matchConditions: _m, ...rest } = workloadHook;
    const { name: _pn, rules: _pr, matchConditions: _pm, ...podRest } = obj(at(validating, 'webhooks', 0));
    expect(rest).toEqual(podRest);
  });

  it("the workloads entry is sent only workloads whose Pod template (the CronJob's too) uses restoreFrom, in the new object, every level guarded", () => {
    const conditions = arr(workloadHook.matchConditions).map(obj);
    expect(conditions).toHaveLength(1);
    const expression = String(conditions[0]?.expression);
    expect(expression).toContain('has(object.spec.template.spec.restoreFrom)');
    expect(expression).toContain('has(object.spec.jobTemplate.spec.template.spec.restoreFrom)');
    for (const path of ['object.spec', 'object.spec.template', 'object.spec.template.spec', 'object.spec.jobTemplate', 'object.spec.jobTemplate.spec']) {
      expect(expression).toContain(`has(${path})`);
    }
    expect(expression).not.toContain('oldObject');
    expect(workloadHook.namespaceSelector).toBeUndefined();
    expect(workloadHook.objectSelector).toBeUndefined();
  });

  it('the capture entry: /validate, CREATE of podcheckpoints in both upstream groups (main resource only), sent only objects naming a source Pod', () => {
    expect(captureHook.rules).toEqual([
      { apiGroups: ['node.k8s.io', 'checkpoint.k8s.io'], apiVersions: ['*'], operations: ['CREATE'], resources: ['podcheckpoints'], scope: 'Namespaced' },
    ]);
    const { name: _n, rules: _r, matchConditions, ...rest } = captureHook;
    const { name: _pn, rules: _pr, matchConditions: _pm, ...podRest } = obj(at(validating, 'webhooks', 0));
    expect(rest).toEqual(podRest);
    const conditions = arr(matchConditions).map(obj);
    expect(conditions).toHaveLength(1);
    expect(String(conditions[0]?.expression)).toContain('has(object.spec.sourcePod.name)');
    expect(captureHook.namespaceSelector).toBeUndefined();
  });

  it("call only for Pods using restoreFrom, in every namespace (restore-guard's own included: a restore there is checked too)", () => {
    for (const hook of podHooks) {
      expect(hook.namespaceSelector).toBeUndefined();
      const conditions = arr(hook.matchConditions).map(obj);
      expect(conditions).toHaveLength(1);
      const expression = String(conditions[0]?.expression);
      expect(expression).toContain('has(object.spec.restoreFrom)');
      expect(expression).toContain('has(oldObject.spec.restoreFrom)');
      expect(hook.objectSelector).toBeUndefined();
    }
  });

  it('carry no caBundle in the base (an overlay injects it)', () => {
    for (const hook of hooks) expect(at(hook, 'clientConfig', 'caBundle')).toBeUndefined();
  });
});

describe('policy ConfigMap', () => {
  const configMap = one('ConfigMap', 'restore-guard-policy');
  const text = String(at(configMap, 'data', 'policy.yaml'));

  it('holds the README policy with its defaults, commented, and it parses to the defaults', () => {
    expect(at(configMap, 'metadata', 'namespace')).toBe('restore-guard');
    expect(text).toMatch(/^\s*#/m);
    const result = parsePolicy(text);
    expect(result.ok).toBe(true);
    if (result.ok) expect(result.policy).toEqual(defaultPolicy());
  });
});

describe('companion ValidatingAdmissionPolicy', () => {
  const policy = one('ValidatingAdmissionPolicy', 'restore-guard.dev');
  const binding = one('ValidatingAdmissionPolicyBinding', 'restore-guard.dev');

  it('is bound, denies, fails closed, and matches pods and the two subresources', () => {
    expect(at(binding, 'spec', 'policyName')).toBe(at(policy, 'metadata', 'name'));
    expect(at(binding, 'spec', 'validationActions')).toEqual(['Deny']);
    expect(at(policy, 'spec', 'failurePolicy')).toBe('Fail');
    const rules = arr(at(policy, 'spec', 'matchConstraints', 'resourceRules')).map(obj);
    expect(rules.flatMap((r) => arr(r.resources)).sort()).toEqual(['pods', 'pods/ephemeralcontainers', 'pods/resize']);
    expect(rules.flatMap((r) => arr(r.operations)).sort()).toEqual(['CREATE', 'UPDATE']);
  });

  it('authorizes `restore` with the CEL authorizer and keeps restoreFrom immutable (evaluated in deploy-cel.test.ts)', () => {
    const validations = arr(at(policy, 'spec', 'validations')).map(obj);
    expect(
      validations.some((v) =>
        /authorizer\.group\('node\.k8s\.io'\)\.resource\('podcheckpoints'\)[\s\S]*\.check\('restore'\)\.allowed\(\)/.test(String(v.expression)),
      ),
    ).toBe(true);
    expect(validations.some((v) => String(v.expression).includes('variables.newRestoreFrom == variables.oldRestoreFrom'))).toBe(true);
  });

  it('for captures: bound, denies, fails closed, PodCheckpoint CREATE like the capture entry, exec on the source Pod by the CEL authorizer', () => {
    const capture = one('ValidatingAdmissionPolicy', 'capture.restore-guard.dev');
    expect(at(one('ValidatingAdmissionPolicyBinding', 'capture.restore-guard.dev'), 'spec')).toEqual({
      policyName: 'capture.restore-guard.dev',
      validationActions: ['Deny'],
    });
    expect(at(capture, 'spec', 'failurePolicy')).toBe('Fail');
    const hook = obj(arr(one('ValidatingWebhookConfiguration', 'restore-guard').webhooks).find((h) => at(h, 'name') === 'capture.restore-guard.dev'));
    expect(at(capture, 'spec', 'matchConstraints', 'resourceRules')).toEqual(hook.rules);
    const validations = arr(at(capture, 'spec', 'validations')).map(obj);
    expect(validations).toHaveLength(1);
    expect(String(validations[0]?.expression)).toMatch(
      /authorizer\.group\(''\)\.resource\('pods'\)\.subresource\('exec'\)[\s\S]*\.name\(variables\.sourcePod\)\.check\('create'\)\.allowed\(\)/,
    );
    expect(String(validations[0]?.messageExpression)).toContain("holds the Pod\\'s memory");
  });
});

describe('overlays and examples', () => {
  const overlay = (name: string, file: string) => documents(join(MANIFESTS, 'overlays', name, file)).map(obj);

  it('cert-manager: a CA chain whose serving Certificate writes restore-guard-tls for the Service names, injected into both webhooks', () => {
    const kustomization = overlay('cert-manager', 'kustomization.yaml')[0] as Obj;
    expect(kustomization.resources).toContain('../../base');
    const certificates = overlay('cert-manager', 'certificates.yaml');
    const serving = certificates.find((d) => d.kind === 'Certificate' && at(d, 'spec', 'secretName') === 'restore-guard-tls') as Obj;
    expect(at(serving, 'spec', 'dnsNames')).toEqual(['restore-guard.restore-guard.svc', 'restore-guard.restore-guard.svc.cluster.local']);
    const issuerName = at(serving, 'spec', 'issuerRef', 'name');
    const issuer = certificates.find((d) => d.kind === 'Issuer' && at(d, 'metadata', 'name') === issuerName) as Obj;
    expect(at(issuer, 'spec', 'ca', 'secretName')).toBeDefined();
    const inject = overlay('cert-manager', 'inject-ca.yaml')[0] as Obj;
    expect(at(inject, 'metadata', 'annotations', 'cert-manager.io/inject-ca-from')).toBe(`restore-guard/${String(at(serving, 'metadata', 'name'))}`);
    const targets = arr(kustomization.patches).map((p) => at(p, 'target', 'kind'));
    expect(targets.sort()).toEqual(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
  });

  it('self-signed: the Secret from generated files and the caBundle replaced into both webhooks', () => {
    const kustomization = overlay('self-signed', 'kustomization.yaml')[0] as Obj;
    const secret = obj(arr(kustomization.secretGenerator)[0]);
    expect(secret).toMatchObject({
      name: 'restore-guard-tls',
      namespace: 'restore-guard',
      type: 'kubernetes.io/tls',
      options: { disableNameSuffixHash: true },
    });
    const kinds = arr(kustomization.replacements).flatMap((r) => arr(at(r, 'targets')).map((t) => at(t, 'select', 'kind')));
    expect(kinds.sort()).toEqual(['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']);
    expect(readFileSync(join(MANIFESTS, 'overlays', 'self-signed', 'generated', '.gitignore'), 'utf8')).toMatch(/^\*$/m);
  });

  it('self-signed: mTLS with a pinned name (the CA bundle as client CA, the CN `npm run certs` issues), and only then 8443 open to all', () => {
    const kustomization = overlay('self-signed', 'kustomization.yaml')[0] as Obj;
    const clientCa = arr(kustomization.configMapGenerator)
      .map(obj)
      .find((g) => g.name === 'restore-guard-client-ca') as Obj;
    expect(clientCa).toMatchObject({ namespace: 'restore-guard', files: ['ca.crt=generated/ca-bundle.crt'], options: { disableNameSuffixHash: true } });
    const patches = arr(kustomization.patches).map(obj);
    const patchOf = (kind: string) =>
      arr(documents(join(MANIFESTS, 'overlays', 'self-signed', String(patches.find((p) => at(p, 'target', 'kind') === kind)?.path)))[0]).map(obj);
    const mtls = patchOf('Deployment');
    const added = mtls.filter((op) => op.path === '/spec/template/spec/containers/0/args/-').map((op) => String(op.value));
    const options = parseServeOptions([...arr(container.args).slice(1).map(String), ...added]);
    expect(options.clientAllowedNames).toEqual([DEFAULTS.clientName]);
    const mount = obj(mtls.find((op) => op.path === '/spec/template/spec/containers/0/volumeMounts/-')?.value);
    expect(dirname(String(options.clientCaFile))).toBe(mount.mountPath);
    const volume = obj(mtls.find((op) => op.path === '/spec/template/spec/volumes/-')?.value);
    expect(volume).toEqual({ name: mount.name, configMap: { name: 'restore-guard-client-ca' } });
    // The example patch is the same setup, for other overlays.
    expect(documents(join(MANIFESTS, 'examples', 'mtls-patch.yaml'))[0]).toEqual(mtls);

    const [rule] = patchOf('NetworkPolicy');
    expect(rule).toMatchObject({ op: 'add', path: '/spec/ingress/-', value: { ports: [{ protocol: 'TCP', port: 8443 }] } });
  });

  it('examples: podcheckpoint-restorer grants only `restore` on podcheckpoints, and a RoleBinding uses it', () => {
    const examples = documents(join(MANIFESTS, 'examples', 'podcheckpoint-restorer.yaml')).map(obj);
    const role = examples.find((d) => d.kind === 'ClusterRole' && at(d, 'metadata', 'name') === 'podcheckpoint-restorer') as Obj;
    expect(role.rules).toEqual([{ apiGroups: ['node.k8s.io'], resources: ['podcheckpoints'], verbs: ['restore'] }]);
    expect(examples.some((d) => d.kind === 'RoleBinding' && at(d, 'roleRef', 'name') === 'podcheckpoint-restorer')).toBe(true);
    expect(at(role, 'metadata', 'labels', 'rbac.authorization.k8s.io/aggregate-to-admin')).toBeUndefined();
  });

  it('examples: podcheckpoint-capturer grants create on podcheckpoints and exec on named Pods only; the restore grant is separate', () => {
    const examples = documents(join(MANIFESTS, 'examples', 'podcheckpoint-capturer.yaml')).map(obj);
    const rules = examples.filter((d) => d.kind === 'ClusterRole' || d.kind === 'Role').flatMap((d) => arr(d.rules).map(obj));
    expect(rules).toHaveLength(2);
    expect(rules).toContainEqual({ apiGroups: ['node.k8s.io'], resources: ['podcheckpoints'], verbs: ['create'] });
    const exec = rules.find((r) => arr(r.resources).includes('pods/exec')) as Obj;
    expect(exec).toMatchObject({ apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] });
    expect(arr(exec.resourceNames).length).toBeGreaterThan(0);
    // What the exec grant answers is exactly what restore-guard and its companion policy ask by default.
    expect(defaultPolicy().checkpoints.access).toEqual({ verb: 'create', group: '', resource: 'pods', subresource: 'exec' });
    expect(JSON.stringify(rules)).not.toContain('restore');
    const listed = arr(obj(documents(join(MANIFESTS, 'examples', 'kustomization.yaml'))[0]).resources);
    expect(listed).toContain('podcheckpoint-capturer.yaml');
  });

  it('examples grant `restore` to people, never to a controller, and show the delegation policy instead (it parses)', () => {
    const files = ['podcheckpoint-restorer', ...SOURCE_PRESETS.map((s) => s.example)];
    for (const file of files) {
      const path = join(MANIFESTS, 'examples', `${file}.yaml`);
      for (const binding of documents(path)
        .map(obj)
        .filter((d) => d.kind === 'RoleBinding' || d.kind === 'ClusterRoleBinding')) {
        for (const subject of arr(binding.subjects).map(obj)) {
          expect(subject.kind, `${file}: ${String(at(binding, 'metadata', 'name'))}`).not.toBe('ServiceAccount');
          expect(String(subject.name), file).not.toMatch(/controller/);
        }
      }
      const lines = readFileSync(path, 'utf8').split('\n');
      const start = lines.indexOf('#   workloads:');
      expect(start, file).toBeGreaterThan(0);
      let end = start + 1;
      while (lines[end]?.startsWith('#     ')) end += 1;
      const snippet = lines
        .slice(start, end)
        .map((line) => line.slice('#   '.length))
        .join('\n');
      // Added to the shipped policy, which says nothing of workloads yet.
      const shipped = String(at(one('ConfigMap', 'restore-guard-policy'), 'data', 'policy.yaml'));
      expect(shipped).not.toMatch(/^workloads:/m);
      const result = parsePolicy(`${shipped}\n${snippet}\n`);
      expect(result.ok ? [] : result.errors, file).toEqual([]);
      if (result.ok) expect(result.policy.workloads).toEqual({ ...defaultPolicy().workloads, delegation: 'enabled' });
    }
  });

  it('the stand-in CRD is a kustomize Component (rendered with the base in deploy-render.test.ts)', () => {
    expect(obj(documents(join(NOT_OURS, 'kustomization.yaml'))[0]).kind).toBe('Component');
  });
});

describe('restore source Components (manifests/components/source-<preset>)', () => {
  const baseEntry = (kind: string) => {
    const { name: _name, matchConditions: _conditions, ...rest } = obj(arr(one(kind, 'restore-guard').webhooks)[0]);
    return rest;
  };
  const componentDir = (preset: string) => join(MANIFESTS, 'components', sourceNames(preset).component);
  const componentDocs = (preset: string) =>
    yamlFiles(componentDir(preset))
      .filter((file) => !file.endsWith('kustomization.yaml'))
      .flatMap((file) => documents(file))
      .filter((doc) => !Array.isArray(doc))
      .map(obj);
  const componentNamed = (preset: string, kind: string, name: string) => {
    const found = componentDocs(preset).filter((doc) => doc.kind === kind && at(doc, 'metadata', 'name') === name);
    expect(found, `${preset} ${kind} ${name}`).toHaveLength(1);
    return found[0] as Obj;
  };
  const componentOne = (preset: string, kind: string) => {
    const found = componentDocs(preset).filter((doc) => doc.kind === kind);
    expect(found, `${preset} ${kind}`).toHaveLength(1);
    return found[0] as Obj;
  };
  const ruleSet = (rules: unknown) =>
    arr(rules).flatMap((rule) =>
      arr(at(rule, 'apiGroups')).flatMap((group) =>
        arr(at(rule, 'resources')).flatMap((resource) => arr(at(rule, 'verbs')).map((verb) => `${String(group)}/${String(resource)}:${String(verb)}`)),
      ),
    );

  for (const source of SOURCE_PRESETS) {
    const names = sourceNames(source.preset);
    const dir = componentDir(source.preset);
    const kustomization = obj(documents(join(dir, 'kustomization.yaml'))[0]);

    it(`${source.preset}: a Component listing every file it holds, whose header says to add the preset to the policy too`, () => {
      expect(kustomization.kind).toBe('Component');
      const listed = [...arr(kustomization.resources), ...arr(kustomization.patches).map((p) => at(p, 'path'))].map(String).sort();
      const present = readdirSync(dir)
        .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
        .sort();
      expect(listed).toEqual(present);
      const header = readFileSync(join(dir, 'kustomization.yaml'), 'utf8').split('\napiVersion:')[0] as string;
      expect(header).toContain('sources:');
      expect(header).toContain(`- preset: ${source.preset}`);
      // What happens when only one of the two is done.
      expect(header).toMatch(/without the policy entry/);
      expect(header).toMatch(/policy entry without the Component/);
    });

    it(`${source.preset}: the policy edit its header shows, added to the shipped policy, parses to the preset restore-guard reads`, () => {
      const header = readFileSync(join(dir, 'kustomization.yaml'), 'utf8').split('\n');
      const start = header.indexOf('#   sources:');
      expect(start).toBeGreaterThan(0);
      // The commented block: `#   sources:` and the lines indented under it.
      let end = start + 1;
      while (header[end]?.startsWith('#     ')) end += 1;
      const snippet = header
        .slice(start, end)
        .map((line) => line.slice('#   '.length))
        .join('\n');
      // The snippet replaces the shipped policy's own `sources:` list.
      const shipped = String(at(one('ConfigMap', 'restore-guard-policy'), 'data', 'policy.yaml')).replace(/^sources:\n(?:[ #].*\n)*/m, '');
      expect(shipped).not.toContain('sources:');
      const text = `${shipped}\n${snippet}\n`;
      const result = parsePolicy(text);
      expect(result.ok ? [] : result.errors).toEqual([]);
      // Read loosely: the decision core's types are not this test's business, the policy's public shape is.
      const sources = (result.ok ? (result.policy as unknown as { sources?: unknown[] }).sources : undefined) ?? [];
      expect(sources).toContainEqual({ preset: 'kep-5823' });
      expect(sources).toContainEqual(
        expect.objectContaining({
          name: source.preset,
          reference: { annotation: source.annotation },
          resource: { group: source.group, version: source.version, resource: source.resource },
          verb: 'restore',
          placement: { mode: 'none' },
          restored: { condition: source.restored },
        }),
      );
    });

    it(`${source.preset}: adds one entry to each webhook configuration, like the base's but sent only Pods carrying ${source.annotation}`, () => {
      const patches = arr(kustomization.patches).map(obj);
      for (const [kind, webhookName] of [
        ['MutatingWebhookConfiguration', names.mutatingWebhook],
        ['ValidatingWebhookConfiguration', names.validatingWebhook],
      ] as const) {
        const patch = patches.find((p) => at(p, 'target', 'kind') === kind) as Obj;
        expect(at(patch, 'target', 'name')).toBe('restore-guard');
        const ops = arr(documents(join(dir, String(patch.path)))[0]).map(obj);
        // Appended, never replaced: another source's entry, or the base's, stays as it is. The validating
        // configuration gets a second entry, for workloads, and a third for captures when the source has them.
        const validatingEntries = source.sourcePod ? 3 : 2;
        expect(ops.map((op) => [op.op, op.path])).toEqual(
          Array.from({ length: kind === 'ValidatingWebhookConfiguration' ? validatingEntries : 1 }, () => ['add', '/webhooks/-']),
        );
        const { name: entryName, matchConditions, ...rest } = obj(ops[0]?.value);
        expect(entryName).toBe(webhookName);
        expect(rest).toEqual(baseEntry(kind));
        const conditions = arr(matchConditions).map(obj);
        expect(conditions).toHaveLength(1);
        const expression = String(conditions[0]?.expression);
        expect(expression).toContain(`'${source.annotation}' in object.metadata.annotations`);
        expect(expression).toContain(`'${source.annotation}' in oldObject.metadata.annotations`);
        expect(expression).not.toContain('restoreFrom');
      }
    });

    it(`${source.preset}: a validating entry for workloads, like the base's workloads entry but sent only templates carrying ${source.annotation}`, () => {
      const patch = arr(kustomization.patches)
        .map(obj)
        .find((p) => at(p, 'target', 'kind') === 'ValidatingWebhookConfiguration') as Obj;
      const ops = arr(documents(join(dir, String(patch.path)))[0]).map(obj);
      const { name: entryName, matchConditions, ...rest } = obj(ops[1]?.value);
      expect(entryName).toBe(names.workloadsWebhook);
      const {
        name: _n,
        matchConditions: _m,
        ...baseRest
      } = obj(arr(one('ValidatingWebhookConfiguration', 'restore-guard').webhooks).find((hook) => at(hook, 'name') === 'workloads.restore-guard.dev'));
      expect(rest).toEqual(baseRest);
      const conditions = arr(matchConditions).map(obj);
      expect(conditions).toHaveLength(1);
      const expression = String(conditions[0]?.expression);
      expect(expression).toContain(`'${source.annotation}' in object.spec.template.metadata.annotations`);
      expect(expression).toContain(`'${source.annotation}' in object.spec.jobTemplate.spec.template.metadata.annotations`);
      expect(expression).toContain('has(object.spec.jobTemplate.spec.template.metadata.annotations)');
      expect(expression).not.toContain('oldObject');
      expect(expression).not.toContain('restoreFrom');
    });

    it(`${source.preset}: captures ${source.sourcePod ? `(${source.sourcePod}): a validating entry and a companion policy like the base's` : 'are not checked: no entry, no policy'}`, () => {
      const patch = arr(kustomization.patches)
        .map(obj)
        .find((p) => at(p, 'target', 'kind') === 'ValidatingWebhookConfiguration') as Obj;
      const entries = arr(documents(join(dir, String(patch.path)))[0]).map((op) => obj(at(op, 'value')));
      const entry = entries.find((e) => e.name === names.capture);
      const policies = componentDocs(source.preset).filter((doc) => at(doc, 'metadata', 'name') === names.capture);
      if (!source.sourcePod) {
        expect(entry).toBeUndefined();
        expect(policies).toEqual([]);
        return;
      }
      const rules = [{ apiGroups: [source.group], apiVersions: ['*'], operations: ['CREATE'], resources: [source.resource], scope: 'Namespaced' }];
      const { name: _n, rules: entryRules, matchConditions, ...rest } = obj(entry);
      expect(entryRules).toEqual(rules);
      const {
        name: _bn,
        rules: _br,
        matchConditions: _bm,
        ...baseRest
      } = obj(arr(one('ValidatingWebhookConfiguration', 'restore-guard').webhooks).find((hook) => at(hook, 'name') === 'capture.restore-guard.dev'));
      expect(rest).toEqual(baseRest);
      expect(String(at(matchConditions, 0, 'expression'))).toContain(`has(object.${source.sourcePod})`);
      const policy = componentNamed(source.preset, 'ValidatingAdmissionPolicy', names.capture);
      expect(at(componentNamed(source.preset, 'ValidatingAdmissionPolicyBinding', names.capture), 'spec')).toEqual({
        policyName: names.capture,
        validationActions: ['Deny'],
      });
      expect(at(policy, 'spec', 'matchConstraints', 'resourceRules')).toEqual(rules);
      expect(at(policy, 'spec', 'variables', 0, 'expression')).toBe(`string(object.${source.sourcePod})`);
      expect(String(at(policy, 'spec', 'validations', 0, 'expression'))).toMatch(/subresource\('exec'\)[\s\S]*\.check\('create'\)\.allowed\(\)/);
    });

    it(`${source.preset}: RBAC of its own: get/list/watch on ${source.resource}.${source.group} only, for restore-guard's ServiceAccount`, () => {
      const role = componentOne(source.preset, 'ClusterRole');
      expect(at(role, 'metadata', 'name')).toBe(names.clusterRole);
      expect(ruleSet(role.rules).sort()).toEqual(['get', 'list', 'watch'].map((verb) => `${source.group}/${source.resource}:${verb}`));
      const binding = componentOne(source.preset, 'ClusterRoleBinding');
      expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: names.clusterRole });
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: 'restore-guard', namespace: 'restore-guard' }]);
    });

    it(`${source.preset}: a companion policy of its own: bound, Deny, fails closed, the base's match constraints, authorizer on its resource`, () => {
      const policy = componentNamed(source.preset, 'ValidatingAdmissionPolicy', names.policy);
      const binding = componentNamed(source.preset, 'ValidatingAdmissionPolicyBinding', names.policy);
      expect(at(binding, 'spec')).toEqual({ policyName: names.policy, validationActions: ['Deny'] });
      expect(at(policy, 'spec', 'failurePolicy')).toBe('Fail');
      expect(at(policy, 'spec', 'matchConstraints')).toEqual(at(one('ValidatingAdmissionPolicy', 'restore-guard.dev'), 'spec', 'matchConstraints'));
      const text = JSON.stringify(at(policy, 'spec'));
      expect(text).toMatch(
        new RegExp(
          `authorizer\\.group\\('${source.group.replace(/\./g, '\\.')}'\\)\\.resource\\('${source.resource}'\\)[^"]*\\.check\\('restore'\\)\\.allowed\\(\\)`,
        ),
      );
      expect(text).toContain(`c.type == '${source.restored}' && c.status == 'True'`);
      // Component resources get no label from the base's kustomization: they carry their own.
      for (const doc of componentDocs(source.preset)) {
        expect(at(doc, 'metadata', 'labels', 'app.kubernetes.io/part-of'), String(doc.kind)).toBe('restore-guard');
        expect(at(doc, 'metadata', 'namespace'), String(doc.kind)).toBeUndefined();
      }
    });

    it(`${source.preset}: the example grants only \`restore\` on ${source.resource}.${source.group}, and binds it`, () => {
      const examples = documents(join(MANIFESTS, 'examples', `${source.example}.yaml`)).map(obj);
      const role = examples.find((d) => d.kind === 'ClusterRole') as Obj;
      expect(at(role, 'metadata', 'name')).toBe(source.example);
      expect(role.rules).toEqual([{ apiGroups: [source.group], resources: [source.resource], verbs: ['restore'] }]);
      expect(at(role, 'metadata', 'labels', 'rbac.authorization.k8s.io/aggregate-to-admin')).toBeUndefined();
      expect(examples.some((d) => d.kind === 'RoleBinding' && at(d, 'roleRef', 'name') === source.example)).toBe(true);
      for (const role of examples.filter((d) => d.kind === 'Role')) {
        for (const rule of arr(role.rules).map(obj))
          expect(rule).toMatchObject({ apiGroups: [source.group], resources: [source.resource], verbs: ['restore'] });
      }
      const listed = arr(obj(documents(join(MANIFESTS, 'examples', 'kustomization.yaml'))[0]).resources);
      expect(listed).toContain(`${source.example}.yaml`);
    });

    it(`${source.preset}: the e2e stand-in CRD serves ${source.kind} (${source.resource}.${source.group}/${source.version}) with a status subresource and conditions`, () => {
      const file = join(ROOT, 'test', 'e2e', 'fixtures', `${source.resource}.${source.group}.yaml`);
      expect(readFileSync(file, 'utf8')).toMatch(/^# STAND-IN[\s\S]*restore-systems\.md/);
      const [crd, ...rest] = documents(file).map(obj);
      expect(rest).toEqual([]);
      expect(crd?.kind).toBe('CustomResourceDefinition');
      expect(at(crd, 'metadata', 'name')).toBe(`${source.resource}.${source.group}`);
      expect(at(crd, 'spec', 'group')).toBe(source.group);
      expect(at(crd, 'spec', 'scope')).toBe('Namespaced');
      expect(at(crd, 'spec', 'names')).toMatchObject({ kind: source.kind, plural: source.resource });
      const versions = arr(at(crd, 'spec', 'versions')).map(obj);
      expect(versions.filter((v) => v.storage === true).map((v) => v.name)).toEqual([source.version]);
      for (const version of versions) {
        expect(version.served, String(version.name)).toBe(true);
        expect(at(version, 'subresources', 'status'), String(version.name)).toEqual({});
        const status = at(version, 'schema', 'openAPIV3Schema', 'properties', 'status', 'properties');
        expect(Object.keys(obj(at(status, 'conditions', 'items', 'properties')))).toEqual(
          expect.arrayContaining(['type', 'status', 'reason', 'lastTransitionTime']),
        );
        for (const field of source.statusFields) expect(at(status, field, 'type'), field).toBe('string');
      }
    });
  }

  it('the Components compose: every name one adds is its own', () => {
    const added = SOURCE_PRESETS.flatMap((source) => [
      ...componentDocs(source.preset).map((doc) => `${String(doc.kind)}/${String(at(doc, 'metadata', 'name'))}`),
      ...Object.values(sourceNames(source.preset)),
    ]);
    expect(new Set(added).size).toBe(added.length);
    const baseNames = base.map((doc) => `${String(doc.kind)}/${String(at(doc, 'metadata', 'name'))}`);
    for (const name of added) expect(baseNames).not.toContain(name);
  });
});
