import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

/** Past this many problems the model gains nothing from a longer list. */
const MAX_REPORTED_PROBLEMS = 5;

export type ValidationResult = { ok: true } | { ok: false; problems: string[] };

export type InputValidator = (input: unknown) => ValidationResult;

/**
 * Compiles JSON Schemas into validators whose problems name the offending field
 * ("input.expression: must be string"), so the model can correct its call.
 */
export class InputValidatorFactory {
  readonly #ajv = new Ajv2020({
    allErrors: true,
    // Tool schemas are also sent to the model and may carry keywords Ajv does not know;
    // an invalid schema is still rejected by meta-schema validation.
    strict: false,
    // "format" is an annotation in draft 2020-12; asserting it would need another dependency.
    validateFormats: false,
  });

  /** Throws when the schema itself is invalid: a programming error, caught at startup. */
  compile(schema: Record<string, unknown>): InputValidator {
    // Ajv2020 refuses a draft-07 $schema URI, which schema generators commonly emit; the
    // keywords tool schemas use mean the same in both drafts.
    const { $schema: _ignored, ...rest } = schema;
    const validate: ValidateFunction = this.#ajv.compile(rest);
    return (input) => {
      if (validate(input)) return { ok: true };
      const problems = (validate.errors ?? []).map(describeError);
      const unique = [...new Set(problems)];
      const shown = unique.slice(0, MAX_REPORTED_PROBLEMS);
      if (unique.length > shown.length) shown.push(`and ${unique.length - shown.length} more`);
      return { ok: false, problems: shown.length > 0 ? shown : ['input: does not match the schema'] };
    };
  }
}

function describeError(error: ErrorObject): string {
  const path = pointerToPath(error.instancePath);
  const params: Record<string, unknown> = error.params;
  if (error.keyword === 'required' && typeof params['missingProperty'] === 'string') {
    return `${appendKey(path, params['missingProperty'])}: is required`;
  }
  if (error.keyword === 'additionalProperties' && typeof params['additionalProperty'] === 'string') {
    return `${appendKey(path, params['additionalProperty'])}: is not an allowed property`;
  }
  if (error.keyword === 'enum' && Array.isArray(params['allowedValues'])) {
    const allowed = params['allowedValues'].map((value) => JSON.stringify(value)).join(', ');
    return `${path}: must be one of ${allowed}`;
  }
  return `${path}: ${error.message ?? 'is invalid'}`;
}

/** "/items/0/na~1me" → input.items[0]["na/me"] */
function pointerToPath(pointer: string): string {
  if (pointer === '') return 'input';
  return pointer
    .slice(1)
    .split('/')
    .map((segment) => segment.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((path, key) => (/^\d+$/.test(key) ? `${path}[${key}]` : appendKey(path, key)), 'input');
}

function appendKey(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}
