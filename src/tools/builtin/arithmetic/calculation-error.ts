/** A problem with the expression, phrased for the model that wrote it. */
export class CalculationError extends Error {
  /** 0-based index into the expression, when the problem has a place. */
  readonly position: number | undefined;

  constructor(problem: string, position?: number, hint?: string) {
    // Reported 1-based: the reader counts characters, not offsets.
    const where = position === undefined ? '' : ` at position ${position + 1}`;
    super(`${problem}${where}${hint === undefined ? '' : `; ${hint}`}`);
    this.name = 'CalculationError';
    this.position = position;
  }
}
