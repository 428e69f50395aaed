import { CalculationError } from './calculation-error.ts';
import { evaluate } from './evaluate.ts';
import { parse } from './parse.ts';
import { tokenize } from './tokenize.ts';

/** Bounds the work, and the parser's recursion depth, that one expression can demand. */
export const MAX_EXPRESSION_LENGTH = 1000;

/** Evaluates an arithmetic expression without ever handing it to eval or Function. */
export function evaluateExpression(source: string): number {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new CalculationError(
      `the expression is too long (${source.length} characters; the limit is ${MAX_EXPRESSION_LENGTH})`,
    );
  }
  return evaluate(parse(tokenize(source)));
}
