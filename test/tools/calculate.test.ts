import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CalculationError } from '../../src/tools/builtin/arithmetic/calculation-error.ts';
import { evaluateExpression } from '../../src/tools/builtin/arithmetic/evaluate-expression.ts';
import { formatNumber } from '../../src/tools/builtin/arithmetic/format-number.ts';
import { calculateTool } from '../../src/tools/builtin/calculate.ts';
import { ToolExecutor } from '../../src/tools/tool-executor.ts';
import { context } from './fixtures.ts';

const calc = (expression: string): string => formatNumber(evaluateExpression(expression));

function failure(expression: string): CalculationError {
  try {
    evaluateExpression(expression);
  } catch (error) {
    if (error instanceof CalculationError) return error;
    throw error;
  }
  throw new Error(`${JSON.stringify(expression)} evaluated without an error`);
}

describe('calculate: values', () => {
  it.each([
    // numbers
    ['42', '42'],
    ['3.25', '3.25'],
    ['.5', '0.5'],
    ['5.', '5'],
    ['1e3', '1000'],
    ['1.5E-3', '0.0015'],
    ['2.5e+2', '250'],
    ['  7  ', '7'],
    // precedence
    ['1 + 2 * 3', '7'],
    ['(1 + 2) * 3', '9'],
    ['2 * 3 ^ 2', '18'],
    ['10 - 4 / 2', '8'],
    ['7 + 10 % 4', '9'],
    ['2 ^ 3 * 2', '16'],
    // associativity
    ['10 - 4 - 3', '3'],
    ['100 / 10 / 5', '2'],
    ['2 ^ 3 ^ 2', '512'],
    ['(2 ^ 3) ^ 2', '64'],
    ['2 ** 3 ** 2', '512'],
    ['20 % 7 % 4', '2'],
    // unary operators
    ['-3', '-3'],
    ['+3', '3'],
    ['--3', '3'],
    ['- - + 3', '3'],
    ['-2 ^ 2', '-4'],
    ['(-2) ^ 2', '4'],
    ['2 ^ -1', '0.5'],
    ['2 * -3', '-6'],
    ['2 - -3', '5'],
    ['-(4 - 6)', '2'],
    ['-0', '0'],
    // remainder keeps the sign of the dividend
    ['-7 % 3', '-1'],
    ['7 % -3', '1'],
    ['5.5 % 2', '1.5'],
    // functions and constants
    ['sqrt(16)', '4'],
    ['abs(-3.5)', '3.5'],
    ['round(2.5)', '3'],
    ['round(-2.5)', '-3'],
    ['round(2.4)', '2'],
    ['floor(-2.5)', '-3'],
    ['ceil(2.1)', '3'],
    ['min(3, 1, 2)', '1'],
    ['max(3, 1, 2)', '3'],
    ['max(-1)', '-1'],
    ['ln(e)', '1'],
    ['ln(1)', '0'],
    ['log(1000)', '3'],
    ['log(8, 2)', '3'],
    ['exp(0)', '1'],
    ['sin(0)', '0'],
    ['cos(pi)', '-1'],
    ['tan(pi / 4)', '1'],
    ['pi', '3.14159265358979'],
    ['e', '2.71828182845905'],
    ['2 * PI', '6.28318530717959'],
    ['SQRT(9)', '3'],
    ['sqrt(sqrt(16)) + max(1, min(5, 2 ^ 2))', '6'],
    // typographic and Python spellings models produce
    ['6 × 7', '42'],
    ['8 ÷ 2', '4'],
    ['5 − 2', '3'],
    ['π', '3.14159265358979'],
    // formatting
    ['0.1 + 0.2', '0.3'],
    ['1 / 3', '0.333333333333333'],
    ['2 / 3', '0.666666666666667'],
    ['2 ^ 53', '9007199254740992'],
    ['1e21', '1e+21'],
    ['1e-7', '1e-7'],
    ['0.1 * 3 * 10', '3'],
  ])('%s = %s', (expression, expected) => {
    expect(calc(expression)).toBe(expected);
  });
});

describe('calculate: errors', () => {
  it.each([
    ['1 / 0', /^division by zero at position 3$/, 2],
    ['5 % (2 - 2)', /^division by zero at position 3$/, 2],
    ['1 / (3 - 3)', /^division by zero at position 3$/, 2],
    ['(1 + 2', /^unbalanced "\(" with no matching "\)" at position 1$/, 0],
    ['((1 + 2) * 3', /^unbalanced "\(" with no matching "\)" at position 1$/, 0],
    ['1 + 2)', /^unbalanced "\)" with no matching "\(" at position 6$/, 5],
    ['max(1, 2', /^unbalanced "\(" with no matching "\)" at position 4$/, 3],
    ['process', /^unknown name "process" at position 1; the known constants are/, 0],
    ['1 + foo(2)', /^unknown name "foo" at position 5/, 4],
    ['sqrt', /^"sqrt" is a function at position 1; call it like sqrt\(x\)$/, 0],
    ['pi(2)', /^"pi" is a constant, not a function at position 1$/, 0],
    ['sqrt(1, 2)', /^sqrt expects 1 argument but got 2 at position 1; use sqrt\(x\)$/, 0],
    ['log()', /^log expects 1 to 2 arguments but got 0 at position 1/, 0],
    ['min()', /^min expects at least 1 argument but got 0 at position 1/, 0],
    ['1 +', /^expected a number, a name or "\(" but found the end of the expression at position 4$/, 3],
    ['* 2', /^expected a number, a name or "\(" but found "\*" at position 1$/, 0],
    ['()', /^expected a number, a name or "\(" but found "\)" at position 2$/, 1],
    ['2 3', /^expected an operator but found the number 3 at position 3$/, 2],
    ['2 pi', /^expected an operator but found the name "pi" at position 3$/, 2],
    ['1, 2', /^expected an operator but found "," at position 2$/, 1],
    ['(1 2)', /^expected "\)" or an operator but found the number 2 at position 4$/, 3],
    ['2 $ 3', /^unexpected character "\$" at position 3$/, 2],
    ['1 + 😀', /^unexpected character "😀" at position 5$/, 4],
    ['1.2.3', /^malformed number "1.2." at position 1$/, 0],
    ['3e', /^malformed number "3e" at position 1$/, 0],
    ['1e999', /^number 1e999 is too large at position 1$/, 0],
    ['10 ^ 400', /^the result of "\^" is infinite \(too large\) at position 4$/, 3],
    ['sqrt(-1)', /^the result of sqrt is not a real number at position 1$/, 0],
    ['ln(0)', /^the result of ln is infinite \(too large\) at position 1$/, 0],
    ['(-8) ^ (1/3)', /^the result of "\^" is not a real number at position 6$/, 5],
  ])('%s', (expression, message, position) => {
    const error = failure(expression);
    expect(error.message).toMatch(message);
    expect(error.position).toBe(position);
  });

  it('rejects an empty expression', () => {
    expect(failure('').message).toBe('the expression is empty');
    expect(failure('   ').message).toBe('the expression is empty');
  });

  it('rejects an expression over 1000 characters, and accepts one of exactly 1000', () => {
    const long = '1+'.repeat(500) + '1';
    expect(failure(long).message).toBe('the expression is too long (1001 characters; the limit is 1000)');
    expect(calc('1+'.repeat(499) + '10')).toBe('509');
  });

  it('copes with deep nesting within the length limit', () => {
    expect(calc('('.repeat(499) + '1' + ')'.repeat(499))).toBe('1');
    expect(calc('-'.repeat(999) + '1')).toBe('-1');
  });

  it.each([
    'process',
    'constructor',
    '__proto__',
    'toString',
    'hasOwnProperty',
    'valueOf',
    'globalThis',
    'Math',
    'eval',
    'Function',
    'require',
    'this',
  ])('rejects the identifier %s', (name) => {
    expect(failure(name).message).toMatch(new RegExp(`^unknown name "${name}" at position 1`));
    expect(failure(`${name}(1)`).message).toMatch(new RegExp(`^unknown name "${name}" at position 1`));
  });

  it.each([
    ['process.exit(1)', /unexpected character "\." at position 8/],
    ['constructor.constructor("return process")()', /unexpected character "\." at position 12/],
    ['1; require("fs")', /unexpected character ";" at position 2/],
    ['`${1}`', /unexpected character "`" at position 1/],
    ['[1][0]', /unexpected character "\[" at position 1/],
    ['a = 1', /unexpected character "=" at position 3/],
  ])('rejects code: %s', (expression, message) => {
    expect(failure(expression).message).toMatch(message);
  });

  it('contains no dynamic code evaluation', async () => {
    const dir = path.resolve(import.meta.dirname, '../../src/tools/builtin/arithmetic');
    for (const file of await readdir(dir)) {
      const source = await readFile(path.join(dir, file), 'utf8');
      expect(source, file).not.toMatch(/\beval\s*\(|\bFunction\s*\(|\bimport\s*\(/);
    }
  });
});

describe('calculate tool', () => {
  const executor = new ToolExecutor([calculateTool()]);
  const run = (input: Record<string, unknown>) =>
    executor.execute({ id: 't1', name: 'calculate', input }, context());

  it('returns just the number', async () => {
    expect(await run({ expression: '(2 + 3) * 4 ^ 2 / sqrt(16)' })).toMatchObject({ content: '20', isError: false });
  });

  it('reports a calculation error with its position', async () => {
    expect(await run({ expression: '1 / 0' })).toMatchObject({
      isError: true,
      content: 'Tool "calculate" failed: division by zero at position 3.',
    });
  });

  it('reports a missing or mistyped expression through schema validation', async () => {
    expect((await run({})).content).toContain('input.expression: is required');
    expect((await run({ expression: 12 })).content).toContain('input.expression: must be string');
    expect((await run({ expression: 'x'.repeat(1001) })).content).toContain(
      'input.expression: must NOT have more than 1000 characters',
    );
  });
});
