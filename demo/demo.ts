// npm run demo [-- --keep]: restore-guard on one machine. Starts etcd and kube-apiserver (built by
// npm run controlplane:build), restore-guard registered through its shipped webhook configurations, applies the
// sample objects in demo/manifests, and walks through an allowed restore, a denied restore and a denied update,
// then (act 2) the same for a Dynamo-style snapshot restore of a real core Pod, printing each kubectl command
// and its answer. With --keep it stays up until Ctrl-C, for trying more commands.
import { relative } from 'node:path';
import { startControlPlane, type ControlPlane } from '../harness/controlplane/controlplane.js';
import { commandLine, kubectl, type KubectlOptions } from '../harness/controlplane/kubectl.js';
import { eventually, httpsRequest } from '../harness/controlplane/net.js';
import { REPO } from '../harness/controlplane/paths.js';
import { clusterClientCertificate } from '../harness/controlplane/restoreguard.js';
import { applySourceComponents, DYNAMO, installSnapshotCrds, registerSourceWebhooks, setSourcesPolicy } from '../harness/controlplane/sources.js';
import { startSuite, type Suite } from '../harness/controlplane/suite.js';

const keep = process.argv.includes('--keep');
const bold = (text: string) => (process.stdout.isTTY ? `\u001b[1m${text}\u001b[0m` : text);
const dim = (text: string) => (process.stdout.isTTY ? `\u001b[2m${text}\u001b[0m` : text);
const say = (text: string) => console.log(`\n${bold(`## ${text}`)}`);
const file = (name: string) => relative(process.cwd(), `${REPO}/demo/manifests/${name}`) || name;

let controlPlane: ControlPlane | undefined;
let suite: Suite | undefined;

async function shutdown(): Promise<void> {
  await suite?.close();
  await controlPlane?.stop();
}

/** Runs kubectl as a person would, printing the command and its answer. */
async function sh(args: string[], options: KubectlOptions = {}, expect: 'ok' | 'fail' = 'ok'): Promise<string> {
  if (!controlPlane) throw new Error('no control plane');
  console.log(`\n$ ${commandLine(args, options)}`);
  const result = await kubectl(controlPlane, args, options);
  const output = `${result.stdout}${result.stderr}`.trimEnd();
  if (output) console.log(output);
  if ((result.code === 0) !== (expect === 'ok')) throw new Error(`expected this command to ${expect === 'ok' ? 'succeed' : 'fail'}`);
  return result.stdout;
}

async function main(): Promise<void> {
  console.log(bold('restore-guard demo: a real kube-apiserver and etcd on 127.0.0.1, restore-guard in front of it'));
  controlPlane = await startControlPlane({ log: (line) => console.log(dim(`  ${line}`)) });
  const cp = controlPlane;
  console.log(dim(`  kube-apiserver ${cp.build.kubernetes}, etcd ${cp.build.etcd}; state and logs in ${relative(process.cwd(), cp.dir)}`));
  suite = await startSuite(cp, { logLevel: 'info' });
  const firstLog = suite.restoreGuard.logs.length; // the registration probes come before
  console.log(dim(`  restore-guard serving on https://127.0.0.1:${suite.restoreGuard.port} as ServiceAccount restore-guard/restore-guard`));
  console.log(dim(`  with mTLS: it answers only kube-apiserver's webhook client certificate (--client-allowed-names=${cp.webhookClient.name})`));
  console.log(`\nexport KUBECONFIG=${cp.kubeconfig}   ${dim('# contexts: admin, alice, bob, carol')}`);

  say('restore-guard is registered through its shipped webhook configurations (url and caBundle set for this machine)');
  await sh(['get', 'mutatingwebhookconfigurations,validatingwebhookconfigurations', '-l', 'app.kubernetes.io/name=restore-guard']);

  say('A team namespace and a checkpoint of the Pod "cart", completed on node-a (the status is what the kubelet writes)');
  await sh(['apply', '-f', file('00-namespace.yaml'), '-f', file('10-checkpoint.yaml')]);
  await sh(['patch', '-n', 'shop', 'podcheckpoint', 'cart-1', '--subresource=status', '--type=merge', '--patch-file', file('11-checkpoint-status.yaml')]);
  await sh(['get', '-n', 'shop', 'podcheckpoints']);

  say('alice may restore from cart-1; bob may create Pods, but not restore');
  await sh(['apply', '-f', file('20-rbac.yaml')]);
  await sh(['auth', 'can-i', 'restore', 'podcheckpoints.checkpoint.k8s.io/cart-1', '-n', 'shop'], { as: 'alice' });
  await sh(['auth', 'can-i', 'restore', 'podcheckpoints.checkpoint.k8s.io/cart-1', '-n', 'shop'], { as: 'bob' }, 'fail');
  await sh(['auth', 'can-i', 'create', 'pods', '-n', 'shop'], { as: 'bob' });

  say('1. An allowed restore: alice restores cart from cart-1; restore-guard pins it to node-a');
  console.log(dim('  (spec.restoreFrom on a real Pod is dropped by every released kube-apiserver, so restores use'));
  console.log(dim('   pods.e2e.restore-guard.dev, a Pod-shaped stand-in that keeps it; see the README)'));
  await eventually('the grant to reach the authorization cache', async () =>
    (await kubectl(cp, ['create', '--dry-run=server', '-f', file('30-restore-cart.yaml')], { as: 'alice' })).code === 0 ? true : undefined,
  );
  await sh(['apply', '-f', file('30-restore-cart.yaml')], { as: 'alice' });
  await sh(['get', '-n', 'shop', 'pods.e2e.restore-guard.dev', 'cart', '-o', 'jsonpath={.spec.affinity.nodeAffinity}{"\\n"}']);

  say('2. A denied restore: bob asks for the same restore');
  await sh(['apply', '-f', file('31-restore-cart-again.yaml')], { as: 'bob' }, 'fail');
  say('   ... and alice asks for a restore whose spec is not what was checkpointed');
  await sh(['apply', '-f', file('32-restore-tampered.yaml')], { as: 'alice' }, 'fail');

  say('3. A denied update: alice changes the image of cart before the restore has finished');
  await sh(
    ['patch', '-n', 'shop', 'pods.e2e.restore-guard.dev', 'cart', '--type=merge', '--patch-file', file('40-change-image.yaml')],
    { as: 'alice' },
    'fail',
  );
  say('   ... while metadata may change');
  await sh(['label', '-n', 'shop', 'pods.e2e.restore-guard.dev', 'cart', 'tier=web'], { as: 'alice' });

  say('4. Only kube-apiserver gets answers: a forged AdmissionReview straight to restore-guard, claiming to be mallory in system:masters');
  const forged = JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'forged',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'mallory', groups: ['system:masters', 'system:authenticated'] },
      object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'probe', namespace: 'shop' }, spec: { restoreFrom: { name: 'cart-1' }, containers: [] } },
    },
  });
  for (const [who, client] of [
    ['without a client certificate', {}],
    ['with a certificate of the cluster CA for user mallory', await clusterClientCertificate(cp, 'mallory')],
  ] as const) {
    const outcome = await httpsRequest(`https://127.0.0.1:${suite.restoreGuard.port}/mutate`, {
      ca: suite.restoreGuard.ca,
      method: 'POST',
      body: forged,
      ...client,
    }).then(
      (answer) => `answered HTTP ${answer.status}`,
      (error: NodeJS.ErrnoException) => `no answer (${error.code ?? error.message})`,
    );
    console.log(`  ${who}: ${outcome}`);
    if (outcome.startsWith('answered')) throw new Error('restore-guard answered a forged review');
  }
  await eventually("restore-guard's warning about mallory's certificate", async () =>
    suite?.restoreGuard.logs.some((l) => l.clientCN === 'mallory') ? true : undefined,
  );

  say('Act 2. A restore system that runs today: NVIDIA Dynamo snapshots, on real core Pods');
  console.log(dim('  enable it: the stand-in CRD, the component source-dynamo-snapshot (webhook entries, RBAC), the policy'));
  await installSnapshotCrds(cp, [DYNAMO]);
  await applySourceComponents(cp, [DYNAMO], { policies: false });
  await setSourcesPolicy(cp, [{ preset: 'kep-5823' }, { preset: 'dynamo-snapshot' }]);
  await registerSourceWebhooks(cp, suite.restoreGuard, [DYNAMO]);
  await sh(['get', '-n', 'restore-guard', 'configmap', 'restore-guard-policy', '-o', 'jsonpath={.data.policy\\.yaml}']);
  await sh(['apply', '-f', file('50-dynamo-snapshot.yaml'), '-f', file('52-dynamo-rbac.yaml')]);
  await sh([
    'patch',
    '-n',
    'shop',
    'podsnapshot',
    'llm-warm-1',
    '--subresource=status',
    '--type=merge',
    '--patch-file',
    file('51-dynamo-snapshot-status.yaml'),
  ]);

  say('5. alice restores the Pod llm-1 from the snapshot llm-warm-1: allowed (no pin: the snapshot sits on shared storage)');
  await eventually('the grant to reach the authorization cache', async () =>
    (await kubectl(cp, ['create', '--dry-run=server', '-f', file('53-restore-llm.yaml')], { as: 'alice' })).code === 0 ? true : undefined,
  );
  await sh(['apply', '-f', file('53-restore-llm.yaml')], { as: 'alice' });
  say('   ... bob, who may create Pods but not restore, is denied; Dynamo alone would have let him');
  await sh(['apply', '-f', file('54-restore-llm-bob.yaml')], { as: 'bob' }, 'fail');
  say('   ... and the annotation of an existing Pod cannot change');
  await sh(['annotate', '--overwrite', '-n', 'shop', 'pod', 'llm-1', 'nvidia.com/restore-from=cart-1'], { as: 'alice' }, 'fail');

  say('6. The spec stays frozen until the node agent reports nvidia.com/Restored=True');
  await sh(['patch', '-n', 'shop', 'pod', 'llm-1', '--type=merge', '--patch-file', file('56-llm-deadline.yaml')], { as: 'alice' }, 'fail');
  await sh(['patch', '-n', 'shop', 'pod', 'llm-1', '--subresource=status', '--type=strategic', '--patch-file', file('55-llm-restored.yaml')]);
  await sh(['patch', '-n', 'shop', 'pod', 'llm-1', '--type=merge', '--patch-file', file('56-llm-deadline.yaml')], { as: 'alice' });

  say("What restore-guard logged (one line per restore decision; nothing from the Pod's spec)");
  for (const entry of suite.restoreGuard.logs.slice(firstLog).filter((l) => typeof l.decision === 'string' && l.dryRun !== true)) {
    console.log(
      dim(
        `  ${JSON.stringify({ webhook: entry.webhook, operation: entry.operation, user: entry.user, source: entry.source, checkpoint: entry.checkpoint, decision: entry.decision, reason: entry.reason })}`,
      ),
    );
  }
  for (const entry of suite.restoreGuard.logs.slice(firstLog).filter((l) => typeof l.clientCN === 'string')) {
    console.log(dim(`  ${JSON.stringify({ level: 'warn', msg: entry.msg, clientCN: entry.clientCN })}`));
  }

  if (keep) {
    console.log(`\n${bold('Still running.')} Try more commands with KUBECONFIG=${cp.kubeconfig}; Ctrl-C stops everything.`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  }
}

void main()
  .then(
    () => 0,
    (error: Error) => {
      console.error(`\ndemo failed: ${error.message}`);
      return 1;
    },
  )
  .then(async (code) => {
    await shutdown();
    console.log(dim('\nstopped kube-apiserver, etcd and restore-guard'));
    process.exitCode = code;
  });
