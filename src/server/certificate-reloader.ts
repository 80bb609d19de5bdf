import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

/** What the webhook serves with: the PEM pair and, with --client-ca-file, the CAs that sign client certificates. */
export interface TlsMaterial {
  cert: string;
  key: string;
  clientCa?: string;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

/** A server whose certificate can be swapped for new handshakes (node:tls and node:https servers). */
export interface SecureContextTarget {
  setSecureContext(options: SecureContextOptions): void;
}

export type PairCheck =
  | { ok: true; notAfter: Date; notBefore: Date; fingerprint: string }
  | { ok: false; reason: string };

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Whether `material` can be served at `now`: the certificate parses, the key is the certificate's, the
 * certificate is within its validity, and the client CA file (if any) holds at least one certificate.
 */
export function checkTlsMaterial(material: TlsMaterial, now: number = Date.now()): PairCheck {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(material.cert);
  } catch (error) {
    return { ok: false, reason: `the certificate does not parse: ${(error as Error).message}` };
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(material.key))) return { ok: false, reason: 'the private key does not match the certificate' };
  } catch (error) {
    return { ok: false, reason: `the private key does not parse: ${(error as Error).message}` };
  }
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (now >= notAfter.getTime()) return { ok: false, reason: `the certificate expired at ${notAfter.toISOString()}` };
  if (now < notBefore.getTime()) return { ok: false, reason: `the certificate is not valid before ${notBefore.toISOString()}` };
  if (material.clientCa !== undefined) {
    const problem = clientCaProblem(material.clientCa);
    if (problem) return { ok: false, reason: problem };
  }
  return { ok: true, notAfter, notBefore, fingerprint: cert.fingerprint256 };
}

/** Why the text of a client CA file cannot be used (no PEM certificate in it, or one that does not parse), or undefined. */
export function clientCaProblem(pem: string): string | undefined {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return 'the client CA file holds no PEM certificate';
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (error) {
      return `a client CA certificate does not parse: ${(error as Error).message}`;
    }
  }
  return undefined;
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
 * Keeps the server's certificate in step with its files. It watches the directories that hold them (a
 * mounted Secret is updated by swapping a symlinked directory, which a watch on the file itself misses)
 * and polls as a backstop. A changed pair is swapped in with setSecureContext: connections already open
 * keep their session, new handshakes get the new certificate. A pair that does not parse, does not match
 * or is not currently valid is refused (logged once, counted), and the previous one stays in use.
 */
export class CertificateReloader extends EventEmitter<ReloaderEvents> {
  private current: string;
  private lastRefused: string | undefined;
  private watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReloadOutcome> | undefined;
  private again = false;
  private stopped = true;
  private readonly now: () => number;

  constructor(private readonly options: CertificateReloaderOptions) {
    super();
    this.now = options.now ?? Date.now;
    this.current = digest(options.initial);
    const initial = checkTlsMaterial(options.initial, this.now());
    if (initial.ok) {
      options.metrics?.servingCertificateExpiry.set(initial.notAfter.getTime() / 1000);
    } else {
      options.logger.error({ reason: initial.reason, certFile: options.files.certFile }, 'the serving certificate in use is not valid; waiting for a renewed one');
      try {
        const notAfter = new Date(new X509Certificate(options.initial.cert).validTo);
        options.metrics?.servingCertificateExpiry.set(notAfter.getTime() / 1000);
      } catch {
        // unparsable: nothing to report
      }
    }
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.ensureWatches();
    const interval = this.options.pollIntervalMs ?? DEFAULT_CERTIFICATE_POLL_MS;
    this.timer = setInterval(() => {
      this.ensureWatches();
      void this.check();
    }, interval);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** Reads the files now and swaps them in if they changed and are usable. Concurrent calls coalesce. */
  check(): Promise<ReloadOutcome> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    const run = async (): Promise<ReloadOutcome> => {
      let outcome: ReloadOutcome;
      do {
        this.again = false;
        outcome = await this.checkOnce();
      } while (this.again && !this.stopped);
      return outcome;
    };
    this.running = run().finally(() => {
      this.running = undefined;
    });
    return this.running;
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

  private ensureWatches(): void {
    if (this.stopped) return;
    const { certFile, keyFile, clientCaFile } = this.options.files;
    const dirs = new Set([certFile, keyFile, ...(clientCaFile ? [clientCaFile] : [])].map((file) => dirname(file)));
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, { persistent: false }, () => void this.check());
        const forget = () => {
          watcher.close();
          if (this.watchers.get(dir) === watcher) this.watchers.delete(dir);
        };
        watcher.on('error', forget);
        watcher.on('close', () => {
          if (this.watchers.get(dir) === watcher) this.watchers.delete(dir);
        });
        this.watchers.set(dir, watcher);
      } catch (error) {
        // The directory is missing right now: polling covers it, and the next poll tries to watch again.
        this.options.logger.debug({ dir, err: error }, 'cannot watch the certificate directory; polling only');
      }
    }
  }
}
