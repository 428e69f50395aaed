import { CalculationError } from './calculation-error.ts';
import { CONSTANTS, FUNCTIONS, type MathFunction } from './library.ts';
import type { Operator, Token } from './tokenize.ts';

/** `position` is where the node's operator, number or name starts in the source. */
export type Expr =
  | { type: 'number'; value: number; position: number }
  | { type: 'unary'; operator: '+' | '-'; operand: Expr; position: number }
  | { type: 'binary'; operator: Operator; left: Expr; right: Expr; position: number }
  | { type: 'call'; name: string; fn: MathFunction; args: Expr[]; position: number };

/**
 * Recursive descent over
 *   additive       := multiplicative (("+" | "-") multiplicative)*
 *   multiplicative := unary (("*" | "/" | "%") unary)*
 *   unary          := ("+" | "-") unary | power
 *   power          := primary ("^" unary)?
 *   primary        := number | name | name "(" args ")" | "(" additive ")"
 * so that ^ binds tighter than unary minus (-2^2 = -4) and is right-associative (2^3^2 = 2^9).
 */
export function parse(tokens: readonly Token[]): Expr {
  return new Parser(tokens).parseExpression();
}

class Parser {
  readonly #tokens: readonly Token[];
  #index = 0;

  constructor(tokens: readonly Token[]) {
    this.#tokens = tokens;
  }

  parseExpression(): Expr {
    if (this.#peek().kind === 'end') throw new CalculationError('the expression is empty');
    const expr = this.#additive();
    const token = this.#peek();
    if (token.kind === ')') throw new CalculationError('unbalanced ")" with no matching "("', token.position);
    if (token.kind !== 'end') {
      throw new CalculationError(`expected an operator but found ${describe(token)}`, token.position);
    }
    return expr;
  }

  #additive(): Expr {
    let left = this.#multiplicative();
    for (let token = this.#peek(); isOperator(token, '+', '-'); token = this.#peek()) {
      this.#index++;
      left = { type: 'binary', operator: token.operator, left, right: this.#multiplicative(), position: token.position };
    }
    return left;
  }

  #multiplicative(): Expr {
    let left = this.#unary();
    for (let token = this.#peek(); isOperator(token, '*', '/', '%'); token = this.#peek()) {
      this.#index++;
      left = { type: 'binary', operator: token.operator, left, right: this.#unary(), position: token.position };
    }
    return left;
  }

  #unary(): Expr {
    const token = this.#peek();
    if (isOperator(token, '+', '-')) {
      this.#index++;
      return { type: 'unary', operator: token.operator, operand: this.#unary(), position: token.position };
    }
    return this.#power();
  }

  #power(): Expr {
    const base = this.#primary();
    const token = this.#peek();
    if (!isOperator(token, '^')) return base;
    this.#index++;
    return { type: 'binary', operator: '^', left: base, right: this.#unary(), position: token.position };
  }

  #primary(): Expr {
    const token = this.#next();
    switch (token.kind) {
      case 'number':
        return { type: 'number', value: token.value, position: token.position };
      case 'identifier':
        return this.#peek().kind === '(' ? this.#call(token.name, token.position) : constant(token.name, token.position);
      case '(': {
        const inner = this.#additive();
        this.#expectClosing(token.position);
        return inner;
      }
      default:
        throw new CalculationError(`expected a number, a name or "(" but found ${describe(token)}`, token.position);
    }
  }

  #call(name: string, position: number): Expr {
    const key = name.toLowerCase();
    const fn = FUNCTIONS.get(key);
    if (!fn) {
      if (CONSTANTS.has(key)) throw new CalculationError(`"${name}" is a constant, not a function`, position);
      throw unknownName(name, position);
    }
    const open = this.#next();
    const args: Expr[] = [];
    if (this.#peek().kind === ')') {
      this.#index++;
    } else {
      args.push(this.#additive());
      while (this.#peek().kind === ',') {
        this.#index++;
        args.push(this.#additive());
      }
      this.#expectClosing(open.position, '"," or ")"');
    }
    if (args.length < fn.minArgs || args.length > fn.maxArgs) {
      throw new CalculationError(
        `${key} expects ${arity(fn)} but got ${args.length}`,
        position,
        `use ${fn.usage}`,
      );
    }
    return { type: 'call', name: key, fn, args, position };
  }

  #expectClosing(openPosition: number, expected = '")" or an operator'): void {
    const token = this.#next();
    if (token.kind === ')') return;
    if (token.kind === 'end') throw new CalculationError('unbalanced "(" with no matching ")"', openPosition);
    throw new CalculationError(`expected ${expected} but found ${describe(token)}`, token.position);
  }

  #peek(): Token {
    // The tokenizer always ends the list with an end token, and the parser never moves past it.
    return this.#tokens[this.#index] ?? { kind: 'end', position: Number.NaN };
  }

  #next(): Token {
    const token = this.#peek();
    if (token.kind !== 'end') this.#index++;
    return token;
  }
}

function constant(name: string, position: number): Expr {
  const key = name.toLowerCase();
  const value = CONSTANTS.get(key);
  if (value !== undefined) return { type: 'number', value, position };
  const fn = FUNCTIONS.get(key);
  if (fn) throw new CalculationError(`"${name}" is a function`, position, `call it like ${fn.usage}`);
  throw unknownName(name, position);
}

function unknownName(name: string, position: number): CalculationError {
  return new CalculationError(
    `unknown name "${name}"`,
    position,
    `the known constants are ${[...CONSTANTS.keys()].join(', ')} and the functions ${[...FUNCTIONS.keys()].join(', ')}`,
  );
}

function arity(fn: MathFunction): string {
  const plural = (n: number): string => `${n} argument${n === 1 ? '' : 's'}`;
  if (fn.maxArgs === Infinity) return `at least ${plural(fn.minArgs)}`;
  if (fn.minArgs === fn.maxArgs) return plural(fn.minArgs);
  return `${fn.minArgs} to ${plural(fn.maxArgs)}`;
}

function isOperator<const O extends Operator>(
  token: Token,
  ...operators: O[]
): token is Extract<Token, { kind: 'operator' }> & { operator: O } {
  return token.kind === 'operator' && (operators as Operator[]).includes(token.operator);
}

function describe(token: Token): string {
  switch (token.kind) {
    case 'number':
      return `the number ${token.text}`;
    case 'identifier':
      return `the name "${token.name}"`;
    case 'operator':
      return `"${token.operator}"`;
    case 'end':
      return 'the end of the expression';
    default:
      return `"${token.kind}"`;
  }
}
