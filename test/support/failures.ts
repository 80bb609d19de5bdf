import { DependencyError } from '../../src/restore/ports.js';

/** The DependencyError a call rejects with; anything else (or no rejection) fails the test. */
export async function failureOf(promise: Promise<unknown>): Promise<DependencyError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof DependencyError)) throw new Error(`expected a DependencyError, got ${String(err)}`);
  return err;
}
