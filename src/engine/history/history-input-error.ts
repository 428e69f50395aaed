/**
 * Thrown when the caller asks for a history that cannot contain the newest user turn (unknown
 * message, not a user message, no text). These are caller bugs, not data to repair: a request
 * without the turn being answered would make the model answer something else.
 */
export class HistoryInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HistoryInputError';
  }
}
