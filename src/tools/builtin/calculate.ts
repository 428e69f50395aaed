import type { InProcessTool } from '../types.ts';
import { evaluateExpression, MAX_EXPRESSION_LENGTH } from './arithmetic/evaluate-expression.ts';
import { formatNumber } from './arithmetic/format-number.ts';

export function calculateTool(): InProcessTool {
  return {
    name: 'calculate',
    description:
      'Evaluates an arithmetic expression and returns the result as a number. Use it instead of ' +
      'doing arithmetic in your head. Supports numbers (including decimals and exponent notation ' +
      'such as 1.5e3), + - * / % (remainder, sign of the dividend), ^ or ** (power, ' +
      'right-associative, binding tighter than unary minus: -2^2 = -4), parentheses, the ' +
      'constants pi and e, and the functions sqrt, abs, round, floor, ceil, exp, ln, log (base 10, ' +
      'or log(x, base)), sin, cos, tan (radians), min and max. Fractional results are shown to 15 ' +
      'significant digits. Errors name the problem and its position (counting characters from 1).',
    inputSchema: {
      type: 'object',
      properties: {
        expression: {
          type: 'string',
          description: 'The expression to evaluate, e.g. "(2 + 3) * 4 ^ 2 / sqrt(16)".',
          maxLength: MAX_EXPRESSION_LENGTH,
        },
      },
      required: ['expression'],
      additionalProperties: false,
    },
    execute: async (input) => {
      const expression = input['expression'];
      if (typeof expression !== 'string') throw new Error('input.expression: must be string');
      return formatNumber(evaluateExpression(expression));
    },
  };
}
