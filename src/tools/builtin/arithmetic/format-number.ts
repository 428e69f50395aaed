/** Significant digits kept for fractions: enough for any real use, few enough to hide binary noise. */
const FRACTION_DIGITS = 15;

/**
 * Integers print exactly; fractions lose the last bits of binary rounding noise, so that
 * 0.1 + 0.2 reads 0.3 rather than 0.30000000000000004.
 */
export function formatNumber(value: number): string {
  if (Object.is(value, -0)) return '0';
  if (Number.isInteger(value)) return String(value);
  return String(Number(value.toPrecision(FRACTION_DIGITS)));
}
