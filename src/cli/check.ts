import type { UserInfo } from '../admission/request.js';
import { deadlineAfter, type Deadline } from '../admission/deadline.js';
import { dictionary, stringAt, type JsonObject } from '../common/json.js';
import { ApiClient } from '../kube/api-client.js';
import { loadApiTarget } from '../kube/api-target.js';
import { KubeCheckpointSource } from '../kube/checkpoint-source.js';
import { KubeOwnerReader } from '../kube/owner-reader.js';
import { KubeNamespaceSource } from '../kube/namespace-source.js';
import { KubeRuntimeClassSource } from '../kube/runtime-class-source.js';
import { SubjectAccessReviewAuthorizer } from '../kube/sar-authorizer.js';
import { SelfSubjectAccessReviewAuthorizer, whoAmI } from '../kube/self-access-review.js';
import { sourcesOf } from '../policy/policy.js';
import type { RestoreSource } from '../policy/sources.js';
import { workloadKinds } from '../restore/workloads.js';
import { specDifferences } from '../restore/create-checks.js';
import type { RestorePorts } from '../restore/facts.js';
import type { PodCheckpoint } from '../restore/model.js';
import type { Authorizer, CheckpointSource } from '../restore/ports.js';
import { restoreDeciders } from '../restore/webhooks.js';
import type { CheckOptions } from './check-options.js';
import { formatCheckJson, formatCheckText } from './check-format.js';
import { policyFromConfigMap, policyFromFile, type LoadedPolicy } from './check-policy.js';
import { decisionReport, verdictAndExit, type CheckReport } from './check-report.js';
import { InputError } from './input-error.js';
import { contextNamespace } from './kube-context.js';
import { asCheckedObject, readDocument, refuseNonWorkload } from './pod-file.js';
import { styleFor } from './style.js';
import { podReview, runWebhooks, type ChainResult } from './webhook-chain.js';

/** The time `check` allows the API server for each step (a webhook gets 10 s from kube-apiserver by default). */
const STEP_TIMEOUT_MS = 10_000;

export interface CheckIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  env?: Record<string, string | undefined>;
  readStdin?: () => Promise<string>;
}

/** The objects restores name, read with a GET per source (no watch: one look is all `check` needs); the last one read is kept. */
class CheckpointReads implements CheckpointSource {
  private readonly bySource = new Map<string, KubeCheckpointSource>();
  last: { checkpoint: PodCheckpoint; source: RestoreSource } | undefined;

  constructor(private readonly client: ApiClient) {}

  async get(namespace: string, name: string, deadline: Deadline, source: RestoreSource): Promise<PodCheckpoint | undefined> {
    return this.keep(await this.of(source).get(namespace, name, deadline), source);
  }

  async withTemplate(checkpoint: PodCheckpoint, deadline: Deadline, source: RestoreSource): Promise<PodCheckpoint | undefined> {
    return this.keep(await this.of(source).withTemplate(checkpoint, deadline), source);
  }

  private keep(checkpoint: PodCheckpoint | undefined, source: RestoreSource): PodCheckpoint | undefined {
    if (checkpoint) this.last = { checkpoint, source };
    return checkpoint;
  }

  private of(source: RestoreSource): KubeCheckpointSource {
    let reader = this.bySource.get(source.name);
    if (!reader) {
      const { group, version, resource } = source.resource;
      reader = new KubeCheckpointSource({ client: this.client, group, version, resource, layout: source });
      this.bySource.set(source.name, reader);
    }
    return reader;
  }
}

/** The requester as the API server would authenticate it: --as (and its groups), else whoever the kubeconfig is. */
async function requester(client: ApiClient, options: CheckOptions): Promise<{ user: UserInfo; authorizer: Authorizer; via: CheckReport['user']['via'] }> {
  if (options.as) {
    // Every authenticated request carries system:authenticated; a SubjectAccessReview must say so itself.
    const groups = [...new Set([...options.asGroups, 'system:authenticated'])];
    return {
      user: { username: options.as, groups, extra: dictionary<string[]>() },
      authorizer: new SubjectAccessReviewAuthorizer({ client }),
      via: 'SubjectAccessReview',
    };
  }
  try {
    const user = await whoAmI(client, deadlineAfter(STEP_TIMEOUT_MS));
    return { user, authorizer: new SelfSubjectAccessReviewAuthorizer(client), via: 'SelfSubjectAccessReview' };
  } catch (error) {
    throw new InputError(`cannot tell who you are (${(error as Error).message}); name the requester with --as`);
  }
}

/** The fields a decision named as differing: only when one did (the requester was authorized and the spec differs). */
function differingFields(chain: ChainResult, reads: CheckpointReads): string[] {
  const validate = chain.validate;
  const named = validate && (validate.outcome === 'spec-mismatch' || validate.warnings.some((w) => w.startsWith('spec differs from the checkpoint')));
  const last = reads.last;
  if (!named || !last) return [];
  return specDifferences(chain.object, last.checkpoint.template ?? {}, last.checkpoint.nodeName, last.source.placement.mode);
}

function resolveNamespace(pod: JsonObject, options: CheckOptions, fromContext: string | undefined): string {
  const own = stringAt(pod, 'metadata', 'namespace');
  if (options.namespace && own && own !== options.namespace) {
    throw new InputError(`the Pod's namespace ${JSON.stringify(own)} does not match -n ${JSON.stringify(options.namespace)}`);
  }
  return options.namespace ?? own ?? fromContext ?? 'default';
}

/** `restore-guard check`: both webhooks' decisions on a Pod, with the cluster's facts; returns the exit status. */
export async function runCheck(options: CheckOptions, io: CheckIo): Promise<number> {
  const document = await readDocument(options.file, io.readStdin);
  refuseNonWorkload(document, options.file);
  const loaded = await loadApiTarget(options.kubeconfig);
  if (!loaded.target) throw new InputError(`no Kubernetes API server to ask: ${loaded.reason}`);
  const client = new ApiClient(loaded.target, 'restore-guard-check');
  try {
    const namespace = resolveNamespace(document as JsonObject, options, await contextNamespace(options.kubeconfig));
    const policy: LoadedPolicy = options.policyFile
      ? await policyFromFile(options.policyFile)
      : await policyFromConfigMap(client, options.policyConfigMap, deadlineAfter(STEP_TIMEOUT_MS));
    const checked = asCheckedObject(document, options.file, workloadKinds(policy.policy), sourcesOf(policy.policy));
    const pod = checked.object;
    const who = await requester(client, options);
    const reads = new CheckpointReads(client);
    const ports: RestorePorts = {
      authorizer: who.authorizer,
      checkpoints: reads,
      runtimeClasses: new KubeRuntimeClassSource({ client }),
      namespaces: new KubeNamespaceSource(client),
      owners: new KubeOwnerReader({ client }),
      policy: () => policy.policy,
    };
    const podWithNamespace: JsonObject = { ...pod, metadata: { ...(pod.metadata as JsonObject), namespace } };
    const request = podReview({ pod: podWithNamespace, namespace, user: who.user, resource: checked });
    const chain = await runWebhooks(restoreDeciders(ports), request, deadlineAfter(STEP_TIMEOUT_MS));
    const report: CheckReport = {
      pod: { kind: checked.kind, namespace, name: stringAt(pod, 'metadata', 'name') ?? stringAt(pod, 'metadata', 'generateName') ?? '' },
      user: { username: who.user.username, groups: who.user.groups, via: who.via },
      policy: policy.origin,
      mutate: decisionReport(chain.mutate),
      validate: chain.validate ? decisionReport(chain.validate) : null,
      differingFields: differingFields(chain, reads),
      ...verdictAndExit(chain),
    };
    io.stdout.write(options.output === 'json' ? formatCheckJson(report) : formatCheckText(report, styleFor(io.stdout, io.env)));
    return report.exitCode;
  } finally {
    client.close();
  }
}
