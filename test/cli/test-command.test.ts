// restore-guard test: the shipped examples pass (so npm test runs them), a case that answers otherwise fails
// with exit 1 and says how, and a file that is not a valid test gets exit 2 with the file and the field.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTests } from '../../src/cli/test-command.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples', 'tests');

async function test(paths: string[]): Promise<{ code: number; out: string }> {
  let out = '';
  const code = await runTests({ paths }, { stdout: { write: (t: string) => (out += t) }, env: {} });
  return { code, out };
}

function file(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'rg-test-'));
  const path = join(dir, 'case.yaml');
  writeFileSync(path, text);
  return path;
}

const HEAD = 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestoreGuardTest\n';
const POD = '{apiVersion: v1, kind: Pod, metadata: {name: p, namespace: shop}, spec: {restoreFrom: {name: c}, containers: [{name: a, image: i}]}}';

describe('restore-guard test', () => {
  it('passes every shipped example: each preset source and the in-tree behaviours', async () => {
    const { code, out } = await test([EXAMPLES]);
    expect(out).not.toContain('FAIL');
    expect(code).toBe(0);
    for (const name of ['kep-5823.yaml', 'updates.yaml', 'dynamo-snapshot.yaml', 'gke-pod-snapshot.yaml']) expect(out).toContain(`${name}:`);
    for (const outcome of ['placed', 'checkpoint-not-ready', 'spec-mismatch', 'spec-frozen', 'restore-from-changed', 'unauthorized']) {
      expect(out).toContain(`/${outcome}`);
    }
    expect(out).toMatch(/\n(\d+) cases in 5 files: \1 passed, 0 failed\n$/);
  });

  it("passes README's complete example of the format", async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'README.md'), 'utf8');
    const example = /\*\*The test file format\*\*[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toContain('kind: RestoreGuardTest');
    const { code, out } = await test([file(example ?? '')]);
    expect(out).toContain('4 cases in 1 files: 4 passed, 0 failed');
    expect(code).toBe(0);
  });

  it('a case answered otherwise fails, naming what was expected and what came', async () => {
    const path = file(
      `${HEAD}cases:\n  - name: bob restores\n    user: bob\n    pod: ${POD}\n    expect: {mutate: {allowed: true, outcome: placed}, validate: {allowed: true}}\n`,
    );
    const { code, out } = await test([path]);
    expect(code).toBe(1);
    expect(out).toContain('FAIL');
    expect(out).toContain('mutate: expected allowed true, outcome placed; got denied/unauthorized: user "bob" cannot restore');
    expect(out).toContain('validate: expected an answer, but it was not reached (the mutating webhook denied)');
    expect(out).toContain('1 cases in 1 files: 0 passed, 1 failed');
  });

  it('a malformed file: exit 2, the file and the field named, and the other files still run', async () => {
    const cases = [
      [`${HEAD}cases:\n  - {name: x, user: a, pod: {}, expect: {mutate: {alowed: true}}}\n`, 'unknown field "alowed"'],
      [`${HEAD}cases: [\n`, 'case.yaml: '],
      [
        `${HEAD}policy: {apiVersion: restore-guard.dev/v1alpha1, kind: RestorePolicy, mode: sometimes}\ncases:\n  - {name: x, user: a, pod: {}, expect: {mutate: {allowed: true}}}\n`,
        'the policy (policy) does not validate: /mode: must be one of enforce, warn, audit',
      ],
      [
        `${HEAD}objects: [{apiVersion: nvidia.com/v1alpha1, kind: PodSnapshot, metadata: {name: s}}]\ncases:\n  - {name: x, user: a, pod: {}, expect: {mutate: {allowed: true}}}\n`,
        '/objects/0 ("nvidia.com/v1alpha1" "PodSnapshot") is of no source the policy enables',
      ],
      [`kind: Pod\n`, 'is not a valid RestoreGuardTest'],
      [`${HEAD}cases:\n  - {name: x, user: a, pod: {}, checkpoint: {}, expect: {validate: {allowed: true}}}\n`, 'must match exactly one schema in oneOf'],
      [`${HEAD}cases:\n  - {name: x, user: a, checkpoint: {}, oldPod: {}, expect: {validate: {allowed: true}}}\n`, 'must match exactly one schema in oneOf'],
    ];
    for (const [text, message] of cases) {
      const { code, out } = await test([file(text ?? ''), join(EXAMPLES, 'updates.yaml')]);
      expect(code).toBe(2);
      expect(out).toContain('ERROR');
      expect(out).toContain(message);
      expect(out).toContain('passed, 0 failed, 1 files unreadable');
    }
  });
});
