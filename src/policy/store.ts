import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { parsePolicy } from './parse.js';
import { defaultPolicy, type Policy } from './policy.js';

export type PolicySourceKind = 'file' | 'configmap';

export type ApplyResult = { result: 'accepted'; generation: number } | { result: 'unchanged'; generation: number } | { result: 'rejected'; errors: string[] };

/**
 * The policy in effect. A document that does not validate never takes effect: the last good policy
 * stays, and the refusal is logged and counted. Every accepted change gets a new generation.
 */
export class PolicyStore {
  private policy: Policy = defaultPolicy();
  private serialized = JSON.stringify(this.policy);
  private gen = 1;
  private readonly listeners = new Set<(policy: Policy, previous: Policy) => void>();
  /** Set while a configured source has not yet delivered a valid policy: why, for denials and logs. */
  private pending: { origin: string; problem: string } | undefined;

  constructor(private readonly deps: { logger: Logger; metrics: Metrics }) {
    deps.metrics.policyGeneration.set(this.gen);
  }

  current(): Policy {
    return this.policy;
  }

  get generation(): number {
    return this.gen;
  }

  /**
   * A policy source is configured: until it delivers a valid policy, the defaults must not decide
   * restores (they would silently drop every restriction the admin wrote), so `unavailable()` says why.
   */
  expect(source: PolicySourceKind, origin: string): void {
    this.pending = { origin, problem: 'it has not been read yet' };
    // From start-up, so the alert on rejected policies (increase()) sees the first one.
    this.deps.metrics.policyReloads.inc({ source, result: 'rejected' }, 0);
  }

  /** A configured source could not be read; while its policy is not in effect, that is the reason. */
  readFailed(problem: string): void {
    if (this.pending) this.pending.problem = problem;
  }

  /** Why no restore can be decided yet (the configured policy is not in effect), or undefined. */
  unavailable(): string | undefined {
    return this.pending && `restore-guard has not loaded its configured policy (${this.pending.origin}): ${this.pending.problem}`;
  }

  /** Applies a document; `undefined` means there is none (no ConfigMap, no key, no file): the defaults. */
  apply(text: string | undefined, source: PolicySourceKind, origin: string): ApplyResult {
    const parsed = text === undefined ? { ok: true as const, policy: defaultPolicy() } : parsePolicy(text);
    if (!parsed.ok) {
      if (this.pending) this.pending.problem = `it does not validate: ${parsed.errors.join('; ')}`;
      this.deps.metrics.policyReloads.inc({ source, result: 'rejected' });
      this.deps.logger.error({ source, origin, errors: parsed.errors, generation: this.gen }, 'invalid policy refused; the last good policy stays in effect');
      return { result: 'rejected', errors: parsed.errors };
    }
    if (this.pending) {
      this.deps.logger.info({ source, origin }, 'the configured policy is loaded: restores are decided');
      this.pending = undefined;
    }
    const serialized = JSON.stringify(parsed.policy);
    if (serialized === this.serialized) {
      this.deps.metrics.policyReloads.inc({ source, result: 'unchanged' });
      return { result: 'unchanged', generation: this.gen };
    }
    const previous = this.policy;
    this.policy = parsed.policy;
    this.serialized = serialized;
    this.gen++;
    this.deps.metrics.policyGeneration.set(this.gen);
    this.deps.metrics.policyReloads.inc({ source, result: 'accepted' });
    const log = parsed.policy.failureMode === 'open' ? this.deps.logger.warn.bind(this.deps.logger) : this.deps.logger.info.bind(this.deps.logger);
    log(
      { source, origin, generation: this.gen, defaults: text === undefined, failureMode: parsed.policy.failureMode, mode: parsed.policy.mode },
      parsed.policy.failureMode === 'open' ? 'policy applied with failureMode: open: API failures will ALLOW restores unchecked' : 'policy applied',
    );
    for (const listener of this.listeners) listener(this.policy, previous);
    return { result: 'accepted', generation: this.gen };
  }

  onChange(listener: (policy: Policy, previous: Policy) => void): void {
    this.listeners.add(listener);
  }
}
