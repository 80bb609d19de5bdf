import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

/**
 * Pinning of client identities under mTLS (`--client-allowed-names`). `--client-ca-file` alone lets through
 * every certificate its CAs signed, and on many clusters that CA signs far more than the API server's
 * webhook client (kubeadm's cluster CA signs every user's and node's client certificate). With pinned
 * names, a connection whose verified certificate names none of them (subject CN, or a DNS name of its
 * subjectAltName) is destroyed right after the handshake, before a byte of HTTP is read: no answer at all,
 * so nothing about checkpoints can be learned from it.
 */

export interface ClientIdentityPolicy {
  /** Subject CNs or DNS subjectAltNames a client certificate must carry (one of them). Exact match. */
  allowedNames: readonly string[];
  metrics?: Pick<Metrics, 'clientIdentityRefusals'>;
}

/** What a client certificate says it is: its subject CNs and the DNS names of its subjectAltName. */
export interface ClientIdentity {
  commonNames: string[];
  dnsNames: string[];
}

/** At most this many distinct refused identities are logged (each once); the metric counts every refusal. */
const MAX_LOGGED_IDENTITIES = 1000;

/**
 * The DNS names in Node's `subjectaltname` string (`DNS:a, DNS:b, IP Address:127.0.0.1`). Node writes a
 * value that holds a comma, quote or other special character as a JSON string (`DNS:"a, DNS:b"`), so that
 * one name can never pass for two; this reads both forms. Anything it cannot read yields no names.
 */
export function subjectAltDnsNames(subjectAltName: string | undefined): string[] {
  const text = subjectAltName ?? '';
  const names: string[] = [];
  let at = 0;
  while (at < text.length) {
    const colon = text.indexOf(':', at);
    if (colon < 0) return [];
    const type = text.slice(at, colon);
    let end: number;
    let value: string;
    if (text[colon + 1] === '"') {
      end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (end >= text.length) return [];
      try {
        value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      } catch {
        return [];
      }
      end += 1;
    } else {
      const next = text.indexOf(', ', colon + 1);
      end = next < 0 ? text.length : next;
      value = text.slice(colon + 1, end);
    }
    if (type === 'DNS') names.push(value);
    if (end === text.length) break;
    if (!text.startsWith(', ', end)) return [];
    at = end + 2;
  }
  return names;
}

export function clientIdentity(certificate: Partial<Pick<PeerCertificate, 'subject' | 'subjectaltname'>> | undefined): ClientIdentity {
  const cn = certificate?.subject?.CN;
  const commonNames = cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
  return { commonNames, dnsNames: subjectAltDnsNames(certificate?.subjectaltname) };
}

/** Whether any of the certificate's names is allowed. CNs match exactly; DNS names ignoring case, as DNS does. */
export function identityAllowed(identity: ClientIdentity, allowedNames: readonly string[]): boolean {
  const allowed = new Set(allowedNames);
  const allowedLower = new Set(allowedNames.map((name) => name.toLowerCase()));
  return identity.commonNames.some((name) => allowed.has(name)) || identity.dnsNames.some((name) => allowedLower.has(name.toLowerCase()));
}

/** `--client-allowed-names` values: repeatable, each comma-separated; blanks dropped. */
export function parseAllowedNames(values: readonly string[]): string[] {
  return [
    ...new Set(
      values
        .flatMap((value) => value.split(','))
        .map((name) => name.trim())
        .filter((name) => name.length > 0),
    ),
  ];
}

/** The server side of a TLS listener: node:tls and node:https servers both emit 'secureConnection'. */
export interface SecureConnectionSource {
  prependListener(event: 'secureConnection', listener: (socket: TLSSocket) => void): unknown;
}

/**
 * Installs the check on `server`. It runs first among the 'secureConnection' listeners (before the HTTP
 * layer attaches to the socket), and the listener belongs to the server, not to its secure context, so a
 * certificate or client CA reload (setSecureContext) leaves it in force.
 */
export function pinClientIdentities(server: SecureConnectionSource, policy: ClientIdentityPolicy, logger: Logger): void {
  const allowedNames = [...policy.allowedNames];
  if (allowedNames.length === 0) throw new Error('pinning client identities needs at least one allowed name');
  const logged = new Set<string>();
  server.prependListener('secureConnection', (socket: TLSSocket) => {
    // With requestCert and rejectUnauthorized, an unverified certificate never completes the handshake;
    // checked anyway, since the names of an unverified certificate mean nothing.
    const certificate = socket.authorized ? socket.getPeerCertificate() : undefined;
    const identity = clientIdentity(certificate && Object.keys(certificate).length > 0 ? certificate : undefined);
    if (socket.authorized && identityAllowed(identity, allowedNames)) return;
    policy.metrics?.clientIdentityRefusals.inc();
    const key = JSON.stringify([identity.commonNames, identity.dnsNames, certificate?.issuer?.CN]);
    if (!logged.has(key) && logged.size < MAX_LOGGED_IDENTITIES) {
      logged.add(key);
      logger.warn(
        {
          clientCN: identity.commonNames.join(', '),
          clientDnsNames: identity.dnsNames,
          clientIssuer: certificate?.issuer?.CN,
          remoteAddress: socket.remoteAddress,
          allowedNames,
        },
        'refused a client certificate that names none of --client-allowed-names: connection closed without an answer (logged once per identity)',
      );
    }
    socket.destroy();
  });
}
