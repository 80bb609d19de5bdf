import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { DirectoryFollower } from '../common/follow-directory.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { certificateNotAfter, checkTlsMaterial, type TlsMaterial } from '../tls/check.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

/** A server whose certificate can be swapped for new handshakes (node:tls and node:https servers). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export async function readTlsMaterial(files: TlsFiles): Promise<TlsMaterial> {
  const [cert, key, clientCa] = await Promise.all([
    readFile(files.certFile, 'utf8'),
    readFile(files.keyFile, 'utf8'),
    files.clientCaFile === undefined ? undefined : readFile(files.clientCaFile, 'utf8'),
  ]);
  return clientCa === undefined ? { cert, key } : { cert, key, clientCa };
}

function digest(material: TlsMaterial): string {
  const hash = createHash('sha256');
  for (const part of [material.cert, material.key, material.clientCa ?? '']) hash.update(part).update('\0');
  return hash.digest('hex');
}

export type ReloadOutcome = 'unchanged' | 'reloaded' | 'refused';

export interface CertificateReloaderOptions {
  files: TlsFiles;
  /** What the server was started with (no reload happens while the files still hold it). */
  initial: TlsMaterial;
  target: SecureContextTarget;
  /** Builds the full secure-context options (setSecureContext replaces every one of them). */
  contextOptions: (material: TlsMaterial) => SecureContextOptions;
  logger: Logger;
  metrics?: Pick<Metrics, 'servingCertificateExpiry' | 'certificateReloads'>;
  /** Poll as well as watch: watches die when the kubelet swaps a mounted Secret's directory. Default 10 s. */
  pollIntervalMs?: number;
  now?: () => number;
}

interface ReloaderEvents {
  reloaded: [{ fingerprint: string; notAfter: Date }];
  refused: [{ reason: string }];
}

export const DEFAULT_CERTIFICATE_POLL_MS = 10_000;
/** Reads until two in a row agree, so a read that straddles the kubelet's symlink swap is not judged. */
const MAX_READS = 5;

/**
 * Keeps the server's certificate in step with its files, followed by a DirectoryFollower (the directories
 * that hold them are watched, since a mounted Secret is updated by swapping a symlinked directory, which a
 * watch on the file itself misses, and polled as a backstop). A changed pair is swapped in with
 * setSecureContext: connections already open keep their session, new handshakes get the new certificate.
 * A pair that does not parse, does not match or is not currently valid is refused (logged once, counted), and the previous one stays in use.
 */
export class CertificateReloader extends EventEmitter<ReloaderEvents> {
  private current: string;
  private lastRefused: string | undefined;
  private readonly follower: DirectoryFollower<ReloadOutcome>;
  private readonly now: () => number;

  constructor(private readonly options: CertificateReloaderOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.current = digest(options.initial);
    const initial = checkTlsMaterial(options.initial, this.now());
    if (initial.ok) {
      options.metrics?.servingCertificateExpiry.set(initial.notAfter.getTime() / 1000);
    } else {
      options.logger.error(
        { reason: initial.reason, certFile: options.files.certFile },
        'the serving certificate in use is not valid; waiting for a renewed one',
      );
      // An unparsable certificate has no expiry to report.
      const notAfter = certificateNotAfter(options.initial.cert);
      if (notAfter) options.metrics?.servingCertificateExpiry.set(notAfter.getTime() / 1000);
    }
    const { certFile, keyFile, clientCaFile } = options.files;
    this.follower = new DirectoryFollower({
      files: [certFile, keyFile, ...(clientCaFile ? [clientCaFile] : [])],
      check: () => this.checkOnce(),
      pollIntervalMs: options.pollIntervalMs ?? DEFAULT_CERTIFICATE_POLL_MS,
      onWatchFailure: (dir, error) => options.logger.debug({ dir, err: error }, 'cannot watch the certificate directory; polling only'),
    });
  }

  start(): void {
    this.follower.start();
  }

  stop(): void {
    this.follower.stop();
  }

  /** Reads the files now and swaps them in if they changed and are usable. Concurrent calls coalesce. */
  check(): Promise<ReloadOutcome> {
    return this.follower.check();
  }

  private async checkOnce(): Promise<ReloadOutcome> {
    const { files, logger, metrics } = this.options;
    let material: TlsMaterial | undefined;
    let hash: string | undefined;
    let failure: Error | undefined;
    for (let read = 0; read < MAX_READS; read++) {
      try {
        const next = await readTlsMaterial(files);
        const nextHash = digest(next);
        failure = undefined;
        if (nextHash === hash) break;
        material = next;
        hash = nextHash;
      } catch (error) {
        // A file may be missing for a moment in the middle of a swap: read again.
        failure = error as Error;
      }
    }
    if (failure && material === undefined) {
      // Still unreadable: keep serving what we have; the next look retries.
      const reason = `cannot read the certificate files: ${failure.message}`;
      return this.refuse(`read:${reason}`, reason);
    }
    if (!material || !hash || hash === this.current) return 'unchanged';
    const check = checkTlsMaterial(material, this.now());
    if (!check.ok) return this.refuse(hash, check.reason);
    try {
      const contextOptions = this.options.contextOptions(material);
      // createSecureContext finds what the checks above cannot (an unsupported key type, for one) before
      // the server is touched.
      createSecureContext(contextOptions);
      this.options.target.setSecureContext(contextOptions);
    } catch (error) {
      return this.refuse(hash, `the TLS stack refused the pair: ${(error as Error).message}`);
    }
    this.current = hash;
    this.lastRefused = undefined;
    metrics?.certificateReloads.inc({ result: 'success' });
    metrics?.servingCertificateExpiry.set(check.notAfter.getTime() / 1000);
    logger.info({ certFile: files.certFile, fingerprint: check.fingerprint, notAfter: check.notAfter.toISOString() }, 'serving certificate reloaded');
    this.emit('reloaded', { fingerprint: check.fingerprint, notAfter: check.notAfter });
    return 'reloaded';
  }

  /** Reports a refused state once per distinct content; the pair in use stays. */
  private refuse(key: string, reason: string): ReloadOutcome {
    if (this.lastRefused === key) return 'unchanged';
    this.lastRefused = key;
    this.options.metrics?.certificateReloads.inc({ result: 'error' });
    this.options.logger.error({ certFile: this.options.files.certFile, reason }, 'refused the changed serving certificate; still serving the previous one');
    this.emit('refused', { reason });
    return 'refused';
  }
}
