import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  certificateBlocks,
  certificateNotAfter,
  checkPair,
  checkTlsMaterial,
  clientCaProblem,
  matchPair,
  parseCertificates,
  type PemPair,
} from '../../src/tls/check.js';
import { issueCa, issueServing } from '../../src/tls/issue.js';

/** Whole seconds: X.509 keeps validity to the second, so these are the exact boundaries of the pairs below. */
const NOT_BEFORE = Date.UTC(2030, 0, 1);
const NOT_AFTER = Date.UTC(2031, 0, 1);
const KEY_BLOCK = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
const BROKEN_CERTIFICATE = '-----BEGIN CERTIFICATE-----\nnot base64 DER\n-----END CERTIFICATE-----\n';

let a: PemPair;
let b: PemPair;
let ca: PemPair;
beforeAll(async () => {
  const validity = { notBefore: new Date(NOT_BEFORE), notAfter: new Date(NOT_AFTER) };
  a = await issueServing({ commonName: 'a', dnsNames: ['a.example'], ...validity });
  b = await issueServing({ commonName: 'b', dnsNames: ['b.example'], ...validity });
  ca = await issueCa({ commonName: 'client CA' });
});

describe('checkPair', () => {
  it('accepts a matching pair within its validity, with its dates and fingerprint', () => {
    expect(checkPair(a, NOT_BEFORE + 1000)).toEqual({
      ok: true,
      notBefore: new Date(NOT_BEFORE),
      notAfter: new Date(NOT_AFTER),
      fingerprint: new X509Certificate(a.cert).fingerprint256,
    });
  });

  it('names what is wrong: a key of another certificate, a certificate or key that does not parse', () => {
    const now = NOT_BEFORE + 1000;
    expect(checkPair({ cert: a.cert, key: b.key }, now)).toEqual({ ok: false, reason: 'the private key does not match the certificate' });
    expect(checkPair({ cert: 'nope', key: a.key }, now)).toMatchObject({ ok: false, reason: expect.stringMatching(/^the certificate does not parse: /) });
    expect(checkPair({ cert: a.cert, key: 'nope' }, now)).toMatchObject({ ok: false, reason: expect.stringMatching(/^the private key does not parse: /) });
  });

  it('is valid from notBefore on and expired from notAfter on (the boundaries themselves included)', () => {
    expect(checkPair(a, NOT_BEFORE - 1)).toEqual({ ok: false, reason: `the certificate is not valid before ${new Date(NOT_BEFORE).toISOString()}` });
    expect(checkPair(a, NOT_BEFORE).ok).toBe(true);
    expect(checkPair(a, NOT_AFTER - 1).ok).toBe(true);
    expect(checkPair(a, NOT_AFTER)).toEqual({ ok: false, reason: `the certificate expired at ${new Date(NOT_AFTER).toISOString()}` });
  });
});

describe('matchPair', () => {
  it('gives the parsed certificate of a matching pair, and refuses a key that is not its own', () => {
    const match = matchPair(ca);
    expect(match.ok && match.cert.ca).toBe(true);
    expect(match.ok && match.cert.fingerprint256).toBe(new X509Certificate(ca.cert).fingerprint256);
    expect(matchPair({ cert: ca.cert, key: a.key })).toEqual({ ok: false, reason: 'the private key does not match the certificate' });
  });
});

describe('checkTlsMaterial', () => {
  it('checks the pair first, then the client CA file', () => {
    const now = NOT_BEFORE + 1000;
    expect(checkTlsMaterial({ ...a, clientCa: ca.cert }, now)).toMatchObject({ ok: true, fingerprint: new X509Certificate(a.cert).fingerprint256 });
    expect(checkTlsMaterial({ ...a, clientCa: 'garbage' }, now)).toEqual({ ok: false, reason: 'the client CA file holds no PEM certificate' });
    expect(checkTlsMaterial({ cert: a.cert, key: b.key, clientCa: 'garbage' }, now)).toEqual({
      ok: false,
      reason: 'the private key does not match the certificate',
    });
    expect(checkTlsMaterial({ ...a, clientCa: ca.cert }, NOT_AFTER)).toMatchObject({ ok: false, reason: expect.stringContaining('expired') });
  });
});

describe('clientCaProblem', () => {
  it('a client CA text without a PEM certificate, or with one that does not parse, is not usable', () => {
    expect(clientCaProblem('')).toBe('the client CA file holds no PEM certificate');
    expect(clientCaProblem(KEY_BLOCK)).toBe('the client CA file holds no PEM certificate');
    expect(clientCaProblem(BROKEN_CERTIFICATE)).toMatch(/^a client CA certificate does not parse: /);
    expect(clientCaProblem(`${ca.cert}${BROKEN_CERTIFICATE}`)).toMatch(/^a client CA certificate does not parse: /);
    expect(clientCaProblem(ca.cert)).toBeUndefined();
    expect(clientCaProblem(`${KEY_BLOCK}${ca.cert}${a.cert}`)).toBeUndefined();
  });
});

describe('parseCertificates', () => {
  it('gives the certificates of a bundle in order, leaving out keys and blocks that do not parse', () => {
    const bundle = `${a.cert}${KEY_BLOCK}${BROKEN_CERTIFICATE}${ca.cert}\n${b.cert}`;
    expect(certificateBlocks(bundle)).toHaveLength(4);
    expect(parseCertificates(bundle).map((cert) => cert.fingerprint256)).toEqual([a, ca, b].map((pair) => new X509Certificate(pair.cert).fingerprint256));
    expect(parseCertificates('')).toEqual([]);
  });
});

describe('certificateNotAfter', () => {
  it('is the end of the validity of a certificate that parses, and undefined otherwise', () => {
    expect(certificateNotAfter(a.cert)).toEqual(new Date(NOT_AFTER));
    expect(certificateNotAfter('nope')).toBeUndefined();
  });
});
