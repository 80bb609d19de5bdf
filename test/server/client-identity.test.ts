import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseServeOptions, UsageError } from '../../src/cli/options.js';
import { clientIdentity, identityAllowed, parseAllowedNames, subjectAltDnsNames } from '../../src/server/client-identity.js';
import { clientAuthority } from '../support/client-certs.js';

describe('client identities', () => {
  it('reads the DNS names of a subjectAltName string, quoted values included, and never splits one name into two', () => {
    expect(subjectAltDnsNames('DNS:a.example, DNS:b.example, IP Address:127.0.0.1, URI:spiffe://x')).toEqual(['a.example', 'b.example']);
    expect(subjectAltDnsNames('DNS:"x, DNS:kube-apiserver"')).toEqual(['x, DNS:kube-apiserver']);
    expect(subjectAltDnsNames('DNS:"a\\"b", DNS:c')).toEqual(['a"b', 'c']);
    expect(subjectAltDnsNames(undefined)).toEqual([]);
    // Malformed text yields nothing (fails closed).
    expect(subjectAltDnsNames('DNS:"unterminated')).toEqual([]);
    expect(subjectAltDnsNames('garbage')).toEqual([]);
  });

  it('reads what Node reports for a real certificate (CN and DNS names), with the quoting Node applies', async () => {
    const authority = await clientAuthority('ca');
    const pair = await authority.issue('kube-apiserver-admission-client', ['one.example', 'two, DNS:three.example']);
    const x509 = new X509Certificate(pair.cert);
    const identity = clientIdentity({ subject: { CN: 'kube-apiserver-admission-client' }, subjectaltname: x509.subjectAltName ?? '' });
    expect(identity).toEqual({ commonNames: ['kube-apiserver-admission-client'], dnsNames: ['one.example', 'two, DNS:three.example'] });
    expect(identityAllowed(identity, ['three.example'])).toBe(false);
  });

  it('allows a certificate when its CN matches exactly or a DNS name matches ignoring case; nothing else', () => {
    const allowed = ['kube-apiserver-admission-client', 'webhook-client.example.com'];
    expect(identityAllowed({ commonNames: ['kube-apiserver-admission-client'], dnsNames: [] }, allowed)).toBe(true);
    expect(identityAllowed({ commonNames: ['Kube-Apiserver-Admission-Client'], dnsNames: [] }, allowed)).toBe(false);
    expect(identityAllowed({ commonNames: ['x'], dnsNames: ['Webhook-Client.example.com'] }, allowed)).toBe(true);
    expect(identityAllowed({ commonNames: ['x'], dnsNames: ['*.example.com'] }, allowed)).toBe(false);
    expect(identityAllowed({ commonNames: [], dnsNames: [] }, allowed)).toBe(false);
    expect(identityAllowed({ commonNames: ['mallory', 'kube-apiserver-admission-client'], dnsNames: [] }, allowed)).toBe(true);
  });

  it('parses --client-allowed-names: comma-separated and repeatable, blanks and repeats dropped', () => {
    expect(parseAllowedNames(['a,b', ' c ', 'a', ',,'])).toEqual(['a', 'b', 'c']);
  });
});

describe('--client-allowed-names and --client-ca-file on the command line', () => {
  it('takes the names, repeated or comma-separated', () => {
    const options = parseServeOptions(['--client-ca-file', '/ca.crt', '--client-allowed-names', 'kube-apiserver,b.example', '--client-allowed-names=c']);
    expect(options.clientAllowedNames).toEqual(['kube-apiserver', 'b.example', 'c']);
    expect(parseServeOptions(['--client-ca-file', '/ca.crt']).clientAllowedNames).toBeUndefined();
  });

  it('refuses the names without --client-ca-file, and an empty list', () => {
    expect(() => parseServeOptions(['--client-allowed-names', 'kube-apiserver'])).toThrow(UsageError);
    expect(() => parseServeOptions(['--client-allowed-names', 'kube-apiserver'])).toThrow(/needs --client-ca-file/);
    expect(() => parseServeOptions(['--client-ca-file', '/ca.crt', '--client-allowed-names', ' , '])).toThrow(/at least one name/);
  });
});
