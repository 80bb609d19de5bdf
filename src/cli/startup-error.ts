/** A configuration that restore-guard refuses to start with; printed as its message alone, exit 1. */
export class StartupError extends Error {}
