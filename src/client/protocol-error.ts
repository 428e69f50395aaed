/**
 * The stream said something that cannot be applied to the state it built so far (a delta for a
 * message it never announced, a text delta on a thinking block…). Resuming from the same seq
 * would replay the same inconsistency, so the subscription recovers with a fresh snapshot.
 */
export class StreamProtocolError extends Error {
  readonly seq: bigint;

  constructor(seq: bigint, detail: string) {
    super(`Subscribe stream event at seq ${seq}: ${detail}`);
    this.name = 'StreamProtocolError';
    this.seq = seq;
  }
}
