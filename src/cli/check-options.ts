import { parseArgs } from 'node:util';
import { UsageError } from './options.js';

export type OutputFormat = 'text' | 'json';

export interface CheckOptions {
  /** The Pod's file, or '-' for standard input. */
  file: string;
  namespace?: string;
  /** Check for this user (a SubjectAccessReview) instead of the caller (a SelfSubjectAccessReview). */
  as?: string;
  asGroups: string[];
  policyFile?: string;
  /** The policy ConfigMap read when there is no policy file (the Deployment's by default). */
  policyConfigMap: { namespace: string; name: string };
  kubeconfig?: string;
  output: OutputFormat;
}

export const CHECK_USAGE = `restore-guard check: would this Pod be admitted, and why (both webhooks, against the live cluster)

Usage:
  restore-guard check -f POD.yaml [-n NAMESPACE] [--as USER [--as-group GROUP]...]
                      [--policy-file FILE | --policy-configmap NS/NAME] [--kubeconfig FILE] [-o text|json]

Reads the Pod from the file ('-': standard input), the live policy, and the checkpoint (or snapshot) and
RuntimeClass through your kubeconfig, then runs the mutating and the validating webhook's decision code in
order, the validating one on the patched Pod. Nothing is created. The file may also hold a workload (its
writer is checked) or a new checkpoint object (taking it needs exec on its source Pod).

Flags:
  -f, --filename FILE           the Pod (YAML or JSON, one object)
  -n, --namespace NS            the Pod's namespace (default: the Pod's, else the context's, else default)
  --as USER                     decide for USER with a SubjectAccessReview (you need create on
                                subjectaccessreviews); without it, for you, with a SelfSubjectAccessReview
  --as-group GROUP              a group of --as (repeatable; system:authenticated is always added)
  --policy-file FILE            a RestorePolicy file instead of the cluster's policy
  --policy-configmap NS/NAME    where the policy lives (default restore-guard/restore-guard-policy, key
                                policy.yaml; absent ConfigMap: the defaults, as the webhook does)
  --kubeconfig FILE             default: in-cluster, else $KUBECONFIG, else ~/.kube/config
  -o, --output FORMAT           text (default; colored on a terminal) or json

Exit status: 0 allowed, 1 denied, 2 could not decide (API server unreachable or failing, the policy
unreadable, the named checkpoint missing, bad input): the reason is printed.
`;

export function parseCheckOptions(args: string[]): CheckOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        filename: { type: 'string', short: 'f' },
        namespace: { type: 'string', short: 'n' },
        as: { type: 'string' },
        'as-group': { type: 'string', multiple: true },
        'policy-file': { type: 'string' },
        'policy-configmap': { type: 'string' },
        kubeconfig: { type: 'string' },
        output: { type: 'string', short: 'o' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (!values.filename) throw new UsageError('check needs the Pod: -f FILE');
  const output = values.output ?? 'text';
  if (output !== 'text' && output !== 'json') throw new UsageError(`-o must be text or json, got ${JSON.stringify(output)}`);
  const asGroups = values['as-group'] ?? [];
  if (asGroups.length > 0 && !values.as) throw new UsageError('--as-group needs --as');
  if (values.as === '') throw new UsageError('--as needs a user name');
  if (values['policy-file'] && values['policy-configmap']) throw new UsageError('--policy-file and --policy-configmap are alternatives; give one');
  let policyConfigMap = { namespace: 'restore-guard', name: 'restore-guard-policy' };
  if (values['policy-configmap']) {
    const [namespace = '', name = '', ...rest] = values['policy-configmap'].split('/');
    if (!namespace || !name || rest.length > 0) throw new UsageError('--policy-configmap must be NAMESPACE/NAME');
    policyConfigMap = { namespace, name };
  }
  const options: CheckOptions = { file: values.filename, asGroups, policyConfigMap, output };
  if (values.namespace) options.namespace = values.namespace;
  if (values.as) options.as = values.as;
  if (values['policy-file']) options.policyFile = values['policy-file'];
  if (values.kubeconfig) options.kubeconfig = values.kubeconfig;
  return options;
}
