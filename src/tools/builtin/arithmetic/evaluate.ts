import { CalculationError } from './calculation-error.ts';
import type { Expr } from './parse.ts';
import type { Operator } from './tokenize.ts';

/** Evaluates the tree, failing at the first step whose result is not a finite real number. */
export function evaluate(expr: Expr): number {
  switch (expr.type) {
    case 'number':
      return expr.value;
    case 'unary': {
      const operand = evaluate(expr.operand);
      return expr.operator === '-' ? -operand : operand;
    }
    case 'binary': {
      const left = evaluate(expr.left);
      const right = evaluate(expr.right);
      return finite(applyBinary(expr.operator, left, right, expr.position), `"${expr.operator}"`, expr.position);
    }
    case 'call':
      return finite(expr.fn.apply(expr.args.map(evaluate)), expr.name, expr.position);
  }
}

function applyBinary(operator: Operator, left: number, right: number, position: number): number {
  switch (operator) {
    case '+':
      return left + right;
    case '-':
      return left - right;
    case '*':
      return left * right;
    case '/':
    case '%':
      if (right === 0) throw new CalculationError('division by zero', position);
      // % keeps the sign of the dividend, like C and JavaScript: -7 % 3 = -1.
      return operator === '/' ? left / right : left % right;
    case '^':
      return left ** right;
  }
}

function finite(value: number, what: string, position: number): number {
  if (Number.isNaN(value)) throw new CalculationError(`the result of ${what} is not a real number`, position);
  if (!Number.isFinite(value)) throw new CalculationError(`the result of ${what} is infinite (too large)`, position);
  return value;
}
