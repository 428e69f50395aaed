export interface MathFunction {
  minArgs: number;
  /** Infinity for variadic functions. */
  maxArgs: number;
  usage: string;
  apply(args: readonly number[]): number;
}

const unary = (name: string, fn: (x: number) => number): MathFunction => ({
  minArgs: 1,
  maxArgs: 1,
  usage: `${name}(x)`,
  apply: (args) => fn(args[0] as number),
});

// Maps, not object literals: a name like "constructor" or "__proto__" must not resolve through
// a prototype.
export const CONSTANTS: ReadonlyMap<string, number> = new Map([
  ['pi', Math.PI],
  ['π', Math.PI],
  ['e', Math.E],
]);

export const FUNCTIONS: ReadonlyMap<string, MathFunction> = new Map<string, MathFunction>([
  ['sqrt', unary('sqrt', Math.sqrt)],
  ['abs', unary('abs', Math.abs)],
  // Half away from zero, as people round; Math.round takes -2.5 to -2.
  ['round', unary('round', (x) => Math.sign(x) * Math.round(Math.abs(x)))],
  ['floor', unary('floor', Math.floor)],
  ['ceil', unary('ceil', Math.ceil)],
  ['exp', unary('exp', Math.exp)],
  ['ln', unary('ln', Math.log)],
  [
    'log',
    {
      minArgs: 1,
      maxArgs: 2,
      usage: 'log(x) for base 10 or log(x, base)',
      apply: ([x = Number.NaN, base]) => (base === undefined ? Math.log10(x) : Math.log(x) / Math.log(base)),
    },
  ],
  ['sin', unary('sin', Math.sin)],
  ['cos', unary('cos', Math.cos)],
  ['tan', unary('tan', Math.tan)],
  ['min', { minArgs: 1, maxArgs: Infinity, usage: 'min(a, b, ...)', apply: (args) => Math.min(...args) }],
  ['max', { minArgs: 1, maxArgs: Infinity, usage: 'max(a, b, ...)', apply: (args) => Math.max(...args) }],
]);
