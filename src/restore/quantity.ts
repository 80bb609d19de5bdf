// Kubernetes resource quantities ("500m", "1Gi", "1e3") compared by value, as upstream's semantic equality does.
const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const QUANTITY = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d{1,3})|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]))?$/;

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a < 0n ? -a : a;
}

/** The exact value of a quantity as a reduced fraction "num/den", or undefined when it is not one. */
export function canonicalQuantity(text: string): string | undefined {
  const match = QUANTITY.exec(text);
  if (!match) return undefined;
  const [, sign = '', number = '', exponent, suffix = ''] = match;
  const [whole = '', fraction = ''] = number.split('.');
  let numerator = BigInt((sign === '-' ? '-' : '') + ((whole + fraction).replace(/^0+(?=\d)/, '') || '0'));
  let exp10 = -fraction.length;
  let exp2 = 0;
  if (exponent) exp10 += Number(exponent.slice(1));
  else if (suffix in BINARY_SUFFIX) exp2 = BINARY_SUFFIX[suffix] ?? 0;
  else exp10 += DECIMAL_SUFFIX[suffix] ?? 0;
  let denominator = 1n;
  if (exp10 >= 0) numerator *= 10n ** BigInt(exp10);
  else denominator = 10n ** BigInt(-exp10);
  numerator *= 2n ** BigInt(exp2);
  const divisor = gcd(numerator, denominator) || 1n;
  return `${numerator / divisor}/${denominator / divisor}`;
}

export function sameQuantity(a: string, b: string): boolean {
  const ca = canonicalQuantity(a);
  return ca !== undefined && ca === canonicalQuantity(b);
}
