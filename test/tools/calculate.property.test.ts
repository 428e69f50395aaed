import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { calculateTool } from '../../src/tools/builtin/calculate.ts';
import { context } from './fixtures.ts';

type BinaryOperator = '+' | '-' | '*' | '%' | '^';

interface Common {
  /** Redundant parentheses, which must change nothing. */
  wrap: boolean;
}
type Tree =
  | (Common & { kind: 'literal'; value: number; spelling: 'plain' | 'decimal' | 'exponent' })
  | (Common & { kind: 'unary'; operator: '-' | '+'; operand: Tree })
  | (Common & { kind: 'binary'; operator: BinaryOperator; left: Tree; right: Tree });

// Rare enough that most expressions lean on precedence rather than on parentheses.
const wrap = fc.integer({ min: 0, max: 5 }).map((n) => n === 5);

const { tree } = fc.letrec<{ tree: Tree }>((tie) => ({
  tree: fc.oneof(
    { depthSize: 'medium', maxDepth: 7 },
    fc.record({
      kind: fc.constant('literal' as const),
      value: fc.integer({ min: 0, max: 40 }),
      spelling: fc.constantFrom('plain' as const, 'decimal' as const, 'exponent' as const),
      wrap,
    }),
    fc.record({
      kind: fc.constant('unary' as const),
      operator: fc.constantFrom('-' as const, '+' as const),
      operand: tie('tree'),
      wrap,
    }),
    fc.record({
      kind: fc.constant('binary' as const),
      operator: fc.constantFrom<BinaryOperator>('+', '-', '*', '%', '^'),
      left: tie('tree'),
      right: tie('tree'),
      wrap,
    }),
  ),
}));

// Binding strength of what a node prints as, and the least each operand position accepts
// without parentheses; these mirror the grammar (^ above unary minus, right-associative).
const ATOM = 5;
const level = (t: Tree): number =>
  t.kind === 'literal' ? ATOM : t.kind === 'unary' ? 3 : t.operator === '^' ? 4 : t.operator === '+' || t.operator === '-' ? 1 : 2;
const operandLevels: Record<BinaryOperator, [left: number, right: number]> = {
  '+': [1, 2],
  '-': [1, 2],
  '*': [2, 3],
  '%': [2, 3],
  '^': [ATOM, 3],
};

/** Prints with only the parentheses the grammar needs, plus the redundant ones the tree asks for. */
function print(t: Tree, minimum: number, space: string): string {
  const text = printBare(t, space);
  return t.wrap || level(t) < minimum ? `(${text})` : text;
}

function printBare(t: Tree, space: string): string {
  switch (t.kind) {
    case 'literal':
      return t.spelling === 'plain' ? `${t.value}` : t.spelling === 'decimal' ? `${t.value}.0` : `${t.value * 10}e-1`;
    case 'unary':
      return `${t.operator}${space}${print(t.operand, 3, space)}`;
    case 'binary': {
      const [left, right] = operandLevels[t.operator];
      return `${print(t.left, left, space)}${space}${t.operator}${space}${print(t.right, right, space)}`;
    }
  }
}

const LIMIT = BigInt(Number.MAX_SAFE_INTEGER);
type Reference = { value: bigint } | { error: 'division by zero' } | { skip: string };

/**
 * Exact integer evaluation of the same tree, in the calculator's order (left, right, then the
 * operator). Steps leaving the safe-integer range, or negative exponents, leave integer
 * arithmetic, so such cases are skipped rather than compared.
 */
function reference(t: Tree): Reference {
  if (t.kind === 'literal') return { value: BigInt(t.value) };
  if (t.kind === 'unary') {
    const operand = reference(t.operand);
    return 'value' in operand && t.operator === '-' ? { value: -operand.value } : operand;
  }
  const left = reference(t.left);
  if (!('value' in left)) return left;
  const right = reference(t.right);
  if (!('value' in right)) return right;
  const [a, b] = [left.value, right.value];
  let value: bigint;
  switch (t.operator) {
    case '+':
      value = a + b;
      break;
    case '-':
      value = a - b;
      break;
    case '*':
      value = a * b;
      break;
    case '%':
      if (b === 0n) return { error: 'division by zero' };
      value = a % b;
      break;
    case '^':
      if (b < 0n) return { skip: 'negative exponent' };
      if (b > 60n && a !== 0n && a !== 1n && a !== -1n) return { skip: 'too large' };
      value = a ** b;
      break;
  }
  return value > LIMIT || value < -LIMIT ? { skip: 'too large' } : { value };
}

describe('calculate (property)', () => {
  const tool = calculateTool();

  it('agrees with exact integer evaluation of the same expression tree', async () => {
    await fc.assert(
      fc.asyncProperty(tree, fc.constantFrom('', ' '), async (t, space) => {
        const expected = reference(t);
        fc.pre(!('skip' in expected));
        const expression = print(t, 0, space);
        fc.pre(expression.length <= 1000);
        const result = tool.execute({ expression }, context());
        if ('error' in expected) {
          await expect(result, expression).rejects.toThrow(/division by zero at position \d+/);
        } else {
          await expect(result, expression).resolves.toBe(expected.value.toString());
        }
      }),
      { numRuns: 2000, maxSkipsPerRun: 1000 },
    );
  });
});
