import type { ApiErrorType } from './types.ts';

/** The status the real API answers each error type with. */
const STATUS_BY_TYPE: Readonly<Record<ApiErrorType, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  timeout_error: 504,
  api_error: 500,
  overloaded_error: 529,
};

export function statusForErrorType(type: ApiErrorType): number {
  return STATUS_BY_TYPE[type];
}

export const DEFAULT_ERROR_MESSAGES: Readonly<Record<ApiErrorType, string>> = {
  invalid_request_error: 'Invalid request',
  authentication_error: 'invalid x-api-key',
  billing_error: 'Your credit balance is too low to access the Anthropic API.',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  not_found_error: 'Not found',
  request_too_large: 'Request exceeds the maximum allowed number of bytes.',
  rate_limit_error: 'Number of requests has exceeded your rate limit. Please try again later.',
  timeout_error: 'Request timed out',
  api_error: 'Internal server error',
  overloaded_error: 'Overloaded',
};

export interface ApiErrorBody {
  readonly type: 'error';
  readonly error: { readonly type: ApiErrorType; readonly message: string };
  readonly request_id?: string;
}

export function errorBody(type: ApiErrorType, message: string, requestId?: string): ApiErrorBody {
  return requestId === undefined
    ? { type: 'error', error: { type, message } }
    : { type: 'error', error: { type, message }, request_id: requestId };
}

/** A request the emulator refuses the way the API would; thrown by validation, answered by the server. */
export class ApiRequestError extends Error {
  readonly status: number;
  readonly type: ApiErrorType;

  constructor(type: ApiErrorType, message: string) {
    super(message);
    this.name = 'ApiRequestError';
    this.type = type;
    this.status = statusForErrorType(type);
  }
}

export const invalidRequest = (message: string): ApiRequestError => new ApiRequestError('invalid_request_error', message);
