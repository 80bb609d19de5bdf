import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { matchPair, type PemPair } from '../../src/tls/check.js';
import { issueCa, issueClient, issueLeaf, issueServing } from '../../src/tls/issue.js';

/** What issuing gives, read back with node:crypto (the keyUsage bits are tested by handshakes in issue.wire.test.ts). */

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DAY = 24 * 3600 * 1000;

const x509 = (pair: PemPair) => new X509Certificate(pair.cert);
const signedBy = (pair: PemPair, issuer: PemPair) => x509(pair).checkIssued(x509(issuer)) && x509(pair).verify(x509(issuer).publicKey);

describe('issueCa', () => {
  it('makes a CA certificate that signs itself, with the subject asked for, and its EC P-256 key', async () => {
    const ca = await issueCa({ commonName: 'restore-guard CA', organization: 'restore-guard' });
    const cert = x509(ca);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=restore-guard CA\nO=restore-guard');
    expect(cert.issuer).toBe(cert.subject);
    expect(signedBy(ca, ca)).toBe(true);
    expect(matchPair(ca).ok).toBe(true);
    expect(cert.publicKey.asymmetricKeyType).toBe('ec');
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(cert.keyUsage).toBeUndefined(); // no extendedKeyUsage on a CA
  });

  it('signs with the issuer asked for', async () => {
    const root = await issueCa({ commonName: 'root' });
    const sub = await issueCa({ commonName: 'sub', issuer: root });
    expect(x509(sub).issuer).toBe('CN=root');
    expect(signedBy(sub, root)).toBe(true);
    expect(signedBy(sub, sub)).toBe(false);
  });
});

describe('issueServing', () => {
  it('makes a leaf for serverAuth only, signed by its issuer, with the DNS and IP subjectAltNames asked for', async () => {
    const ca = await issueCa({ commonName: 'ca' });
    const serving = await issueServing({ commonName: 'svc', dnsNames: ['a.example', 'b.example'], ips: ['127.0.0.1', '::1'], issuer: ca });
    const cert = x509(serving);
    expect(cert.ca).toBe(false);
    expect(cert.subject).toBe('CN=svc');
    expect(signedBy(serving, ca)).toBe(true);
    expect(cert.keyUsage).toEqual([SERVER_AUTH]);
    expect(cert.subjectAltName).toBe('DNS:a.example, DNS:b.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(matchPair(serving).ok).toBe(true);
  });

  it('signs itself without an issuer', async () => {
    const serving = await issueServing({ commonName: '127.0.0.1', ips: ['127.0.0.1'] });
    expect(x509(serving).issuer).toBe('CN=127.0.0.1');
    // checkIssued would say no: a leaf's keyUsage has no keyCertSign. A client trusts it as itself, not as a CA.
    expect(x509(serving).verify(x509(serving).publicKey)).toBe(true);
  });
});

describe('issueClient', () => {
  it('makes a leaf for clientAuth only, without subjectAltName unless DNS names are asked for', async () => {
    const ca = await issueCa({ commonName: 'ca' });
    const plain = await issueClient({ commonName: 'kube-apiserver', issuer: ca });
    expect(x509(plain).keyUsage).toEqual([CLIENT_AUTH]);
    expect(x509(plain).subjectAltName).toBeUndefined();
    expect(x509(plain).subject).toBe('CN=kube-apiserver');
    expect(signedBy(plain, ca)).toBe(true);
    const named = await issueClient({ commonName: 'other', dnsNames: ['webhook-client.example'], issuer: ca });
    expect(x509(named).subjectAltName).toBe('DNS:webhook-client.example');
  });
});

describe('issueLeaf', () => {
  it('gives a leaf both usages when asked for both', async () => {
    const leaf = await issueLeaf({ commonName: 'both', extKeyUsage: ['serverAuth', 'clientAuth'], dnsNames: ['both.example'] });
    expect(x509(leaf).keyUsage?.slice().sort()).toEqual([SERVER_AUTH, CLIENT_AUTH]);
  });
});

describe('validity', () => {
  it('is what was asked for', async () => {
    const notBefore = new Date(Date.UTC(2030, 0, 1));
    const notAfter = new Date(Date.UTC(2030, 6, 1));
    for (const pair of [await issueCa({ commonName: 'ca', notBefore, notAfter }), await issueClient({ commonName: 'c', notBefore, notAfter })]) {
      expect(new Date(x509(pair).validFrom)).toEqual(notBefore);
      expect(new Date(x509(pair).validTo)).toEqual(notAfter);
    }
  });

  it('is by default a year from five minutes before issuing (X.509 keeps seconds)', async () => {
    const cert = x509(await issueServing({ commonName: 'svc' }));
    const span = Date.parse(cert.validTo) - Date.parse(cert.validFrom);
    expect(Math.abs(span - (365 * DAY + 5 * 60_000))).toBeLessThanOrEqual(1000);
  });
});
