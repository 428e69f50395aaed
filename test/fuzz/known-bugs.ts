// Bugs the fuzzer found in src/ (or in how src/ uses its libraries) that are not fixed yet.
// Each has an `it.fails` test in known-bugs.test.ts that shows it with one exact input. While a
// bug is open, the random fuzz counts the inputs that hit it — recognised by a precise predicate
// on the input and the server's answer — separately, instead of failing on them; everything
// else about those inputs is still checked (an answer came, nothing was written, the server
// stays up). When a bug is fixed its it.fails test fails: make it a plain regression test there
// and remove the entry here. None is open now.
import type { FuzzInput } from './generate.ts';
import type { Decoded } from './judge.ts';
import type { Outcome } from './wire.ts';

export interface KnownBug {
  id: string;
  title: string;
  matches(input: FuzzInput, decoded: Decoded, outcome: Outcome): boolean;
}

export const KNOWN_BUGS: readonly KnownBug[] = [];

export function knownBugOf(input: FuzzInput, decoded: Decoded, outcome: Outcome): string | null {
  return KNOWN_BUGS.find((bug) => bug.matches(input, decoded, outcome))?.id ?? null;
}
