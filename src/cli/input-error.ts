/** Input `check` or `test` cannot work with (a file that is not a Pod, no API server, a malformed test file): its message alone, exit 2. */
export class InputError extends Error {}
