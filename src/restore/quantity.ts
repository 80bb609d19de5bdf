// Kubernetes resource quantities ("500m", "1Gi", "1e3") compared by value, as upstream's semantic equality does.
//
// The grammar is apimachinery's (resource.Quantity): a signed decimal number, then a decimal SI suffix
// (n u m k M G T P E), a binary one (Ki … Ei) or a decimal exponent. Upstream's parser has no length limit of
// its own: it bounds the value instead. Quantities are documented to stay within 2^63-1 in magnitude (19
// digits; binary ones are capped there) and are rounded up to 1n (9 fraction digits); up to maxInt64Factors
// (18) digits they take an int64 fast path, and beyond it arbitrary precision. A quantity in that domain,
// written out in full, is at most 28 digits plus a sign, a point and a suffix (~31 characters). Text longer
// than MAX_QUANTITY_LENGTH is not compared by value: it is an ordinary string, equal only to the same text.
// That is stricter, never looser, and costs nothing real: the API server sends a Pod's quantities in
// canonical form, so equal values arrive as equal text anyway. Without the bound, two 40,000-digit limits
// cost seconds of CPU per review.

/** The longest text compared as a quantity: the documented domain (~31 characters) plus room for padding. */
export const MAX_QUANTITY_LENGTH = 40;

const DECIMAL_SUFFIX: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Readonly<Record<string, bigint>> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };
// sign, whole digits, fraction digits, then at most one of: exponent (3 digits at most), binary, decimal suffix.
const QUANTITY = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d{1,3})|(Ki|Mi|Gi|Ti|Pi|Ei)|([numkMGTPE]))?$/;

/**
 * The exact value of a quantity in a canonical text, `[-]<digits>e<exponent>` with no leading or trailing
 * zero in the digits (`"0"` for zero), so two quantities are equal exactly when their canonical texts are;
 * undefined when the text is not a quantity or is longer than MAX_QUANTITY_LENGTH. Bounded work: no power
 * of ten is ever computed (the exponent stays a number), and only a binary suffix multiplies, by at most 2^60,
 * a mantissa of at most 40 digits.
 */
export function canonicalQuantity(text: string): string | undefined {
  if (text.length > MAX_QUANTITY_LENGTH) return undefined;
  const match = QUANTITY.exec(text);
  if (!match) return undefined;
  const [, sign, whole = '', pointed, bare, exponent, binary, decimal] = match;
  const fraction = pointed ?? bare ?? '';
  let digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  let exp10 = -fraction.length + (exponent !== undefined ? Number(exponent) : decimal !== undefined ? (DECIMAL_SUFFIX[decimal] ?? 0) : 0);
  // m × 10^e × 2^k is the integer (m × 2^k) × 10^e: a binary suffix only widens the digits.
  if (binary !== undefined) digits = (BigInt(digits) << (BINARY_SUFFIX[binary] ?? 0n)).toString();
  let end = digits.length;
  while (digits.charCodeAt(end - 1) === 48 /* 0 */) end--;
  exp10 += digits.length - end;
  return `${sign === '-' ? '-' : ''}${digits.slice(0, end)}e${exp10}`;
}

/** Whether two texts are the same quantity; false when either is not a quantity (or is over-long). */
export function sameQuantity(a: string, b: string): boolean {
  const ca = canonicalQuantity(a);
  return ca !== undefined && ca === canonicalQuantity(b);
}
