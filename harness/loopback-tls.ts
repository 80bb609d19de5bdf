import { generate } from 'selfsigned';

/** A self-signed serving pair for 127.0.0.1 (its own CA): a TLS server on loopback that clients can verify. */
export async function loopbackServingPair(): Promise<{ cert: string; key: string }> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  });
  return { cert: pems.cert, key: pems.private };
}
