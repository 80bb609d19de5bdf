/** The part of a pino logger the Kubernetes adapters use; pino's Logger satisfies it. */
export interface KubeLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const ignore = (): void => undefined;

export const silentLogger: KubeLogger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
