import { CalculationError } from './calculation-error.ts';

export type Operator = '+' | '-' | '*' | '/' | '%' | '^';

export type Token =
  | { kind: 'number'; value: number; text: string; position: number }
  | { kind: 'identifier'; name: string; position: number }
  | { kind: 'operator'; operator: Operator; position: number }
  | { kind: '(' | ')' | ','; position: number }
  | { kind: 'end'; position: number };

const NUMBER = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const IDENTIFIER = /[A-Za-z_π][A-Za-z0-9_]*/y;
const DANGLING_EXPONENT = /[eE][+-]?(?!\d)/y;
const WHITESPACE = /\s/;

// Models often write the typographic or Python spellings; accepting them costs nothing.
const OPERATORS: ReadonlyMap<string, Operator> = new Map<string, Operator>([
  ['**', '^'],
  ['+', '+'],
  ['-', '-'],
  ['\u2212', '-'],
  ['*', '*'],
  ['\u00d7', '*'],
  ['/', '/'],
  ['\u00f7', '/'],
  ['%', '%'],
  ['^', '^'],
]);

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < source.length) {
    const char = source[index] as string;
    if (WHITESPACE.test(char)) {
      index++;
      continue;
    }
    if (char === '(' || char === ')' || char === ',') {
      tokens.push({ kind: char, position: index });
      index++;
      continue;
    }
    const operatorText = source.startsWith('**', index) ? '**' : char;
    const operator = OPERATORS.get(operatorText);
    if (operator) {
      tokens.push({ kind: 'operator', operator, position: index });
      index += operatorText.length;
      continue;
    }
    NUMBER.lastIndex = index;
    const number = NUMBER.exec(source);
    if (number) {
      const text = number[0];
      const end = index + text.length;
      DANGLING_EXPONENT.lastIndex = end;
      if (source[end] === '.' || DANGLING_EXPONENT.test(source)) {
        throw new CalculationError(`malformed number "${source.slice(index, end + 1)}"`, index);
      }
      const value = Number(text);
      if (!Number.isFinite(value)) throw new CalculationError(`number ${text} is too large`, index);
      tokens.push({ kind: 'number', value, text, position: index });
      index = end;
      continue;
    }
    IDENTIFIER.lastIndex = index;
    const identifier = IDENTIFIER.exec(source);
    if (identifier) {
      tokens.push({ kind: 'identifier', name: identifier[0], position: index });
      index += identifier[0].length;
      continue;
    }
    const whole = String.fromCodePoint(source.codePointAt(index) ?? 0);
    throw new CalculationError(`unexpected character "${whole}"`, index);
  }
  tokens.push({ kind: 'end', position: source.length });
  return tokens;
}
