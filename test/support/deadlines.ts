import type { Deadline } from '../../src/admission/deadline.js';
import { deadlineAfter } from '../../src/admission/deadline.js';

/** A Deadline `ms` from now, as the server hands it to the ports. */
export const deadlineIn = (ms: number): Deadline => deadlineAfter(ms);

/** A Deadline that expires only when told to, for tests that must not depend on time. */
export function manualDeadline(): { deadline: Deadline; expire(): void } {
  const controller = new AbortController();
  return {
    deadline: {
      signal: controller.signal,
      remainingMs: () => (controller.signal.aborted ? 0 : 3_600_000),
    },
    expire: () => controller.abort(new DOMException('deadline expired', 'TimeoutError')),
  };
}
