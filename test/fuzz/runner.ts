// Sends fuzz inputs to a running app and keeps the books: verdicts, known bugs, writes.
import { create, toBinary, type DescMethod } from '@bufbuild/protobuf';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import type { TestApp } from '../support/app.ts';
import { unexplainedChanges, type DatabaseWatch } from './database.ts';
import type { Fixtures } from './fixtures.ts';
import { procedurePath, type FuzzInput, type Protocol } from './generate.ts';
import { decodeRequest, describeRequest, isMutating, judge, touchedIds, wholeRequest, type Tally, type Violation } from './judge.ts';
import { knownBugOf } from './known-bugs.ts';
import { frame, h1Call, H2Client, type Outcome } from './wire.ts';

/** Far above any honest answer on loopback; only a hang gets near it. */
export const REQUEST_TIMEOUT_MS = 8_000;

export class FuzzRunner {
  readonly app: TestApp;
  readonly db: DatabaseWatch;
  readonly fixtures: Fixtures;
  readonly tally: Tally;
  /** Conversations an accepted call may have changed (they, and only they, may differ). */
  readonly touched = new Set<string>();
  /** An accepted call whose effects could not be attributed: new conversations are then not a finding. */
  #unattributed = false;
  readonly #h2: H2Client;

  constructor(app: TestApp, db: DatabaseWatch, fixtures: Fixtures, tally: Tally) {
    this.app = app;
    this.db = db;
    this.fixtures = fixtures;
    this.tally = tally;
    this.#h2 = new H2Client(app.baseUrl);
  }

  close(): void {
    this.#h2.close();
  }

  async send(protocol: Protocol, method: DescMethod, request: FuzzInput['request'], timeoutMs = REQUEST_TIMEOUT_MS): Promise<Outcome> {
    const options = { timeoutMs, ...(method.methodKind === 'server_streaming' ? { stopAfterMessages: 1 } : {}) };
    if (protocol.transport === 'h1') return h1Call(this.app.baseUrl, request, options);
    return this.#h2.call(request, options);
  }

  /**
   * Sends each input, judges each answer, and checks that only accepted calls changed the
   * database: after every input of a mutating RPC, and after the batch for the others.
   * Returns the violations found (also recorded in the tally).
   */
  async run(protocol: Protocol, inputs: readonly FuzzInput[]): Promise<Violation[]> {
    const violations: Violation[] = [];
    let before = await this.db.fingerprint();
    for (const input of inputs) {
      const { method } = input;
      const decoded = decodeRequest(input);
      const outcome = await this.send(protocol, method, input.request);
      this.tally.inputs++;
      this.tally.rpcs.add(method.name);
      this.tally.protocols.add(protocol.name);
      this.tally.kinds.set(input.kind, (this.tally.kinds.get(input.kind) ?? 0) + 1);
      const where = `${protocol.name} ${method.name} [${input.kind}]`;
      const verdict = judge(input, outcome);
      const answer = `${method.name} → ${outcome.kind === 'rpc' ? outcome.code : outcome.kind === 'http' ? `HTTP ${outcome.httpStatus}` : outcome.kind}`;
      this.tally.answers.set(answer, (this.tally.answers.get(answer) ?? 0) + 1);
      if (verdict.ok) {
        if (verdict.accepted) {
          this.tally.accepted++;
          if (isMutating(method) && outcome.kind === 'rpc') {
            const ids = touchedIds(method, decoded, outcome.responses);
            if (ids === 'unknown') {
              this.#unattributed = true;
              for (const id of this.fixtures.pools().conversationIds) this.touched.add(id);
            } else {
              for (const id of ids) this.touched.add(id);
            }
          }
        } else {
          this.tally.rejected++;
          // deadline_exceeded does not say whether a write was made: one already started goes on
          // in the background (docs/operations.md), and shows in a later fingerprint.
          if (isMutating(method) && outcome.kind === 'rpc' && outcome.code === 'deadline_exceeded') {
            this.#unattributed = true;
            const ids = touchedIds(method, decoded, []);
            for (const id of ids === 'unknown' ? this.fixtures.pools().conversationIds : ids) this.touched.add(id);
          }
        }
      } else {
        const bug = knownBugOf(input, decoded, outcome);
        if (bug) this.tally.knownBugHits.set(bug, (this.tally.knownBugHits.get(bug) ?? 0) + 1);
        else violations.push({ category: verdict.category, where, detail: verdict.detail, reproduction: describeRequest(input), request: wholeRequest(input) });
      }
      if (isMutating(method)) {
        const after = await this.db.fingerprint();
        for (const change of this.#changes(before, after)) {
          violations.push({ category: 'write', where, detail: `${change} (the call was answered: ${summarize(outcome)})`, reproduction: describeRequest(input), request: wholeRequest(input) });
        }
        before = after;
      }
    }
    const after = await this.db.fingerprint();
    for (const change of this.#changes(before, after)) {
      violations.push({ category: 'write', where: `${protocol.name} ${inputs[0]?.method.name ?? ''} (batch)`, detail: change, reproduction: '(one of the batch)' });
    }
    violations.push(...(await this.liveness(protocol)));
    this.tally.violations.push(...violations);
    return violations;
  }

  #changes(before: Map<string, string>, after: Map<string, string>): string[] {
    const changes = unexplainedChanges(before, after, this.touched);
    return this.#unattributed ? changes.filter((c) => !c.endsWith('no accepted call created it')) : changes;
  }

  /** A valid GetConversation and ListConversations over this protocol still succeed. */
  async liveness(protocol: Protocol): Promise<Violation[]> {
    const checks: Array<[DescMethod, Record<string, unknown>]> = [
      [ConversationService.method.getConversation, { conversationId: this.fixtures.livenessConversationId }],
      [ConversationService.method.listConversations, { pageSize: 5 }],
    ];
    const violations: Violation[] = [];
    for (const [method, fields] of checks) {
      const message = create(method.input, fields);
      const payload = protocol.codec === 'json' ? Buffer.from(JSON.stringify(fields)) : toBinary(method.input, message);
      const body = protocol.enveloped(method) ? frame(payload) : payload;
      const outcome = await this.send(protocol, method, { path: procedurePath(method), headers: protocol.headers(method), body });
      if (outcome.kind !== 'rpc' || outcome.code !== 'ok') {
        violations.push({ category: 'liveness', where: `${protocol.name} ${method.name}`, detail: `a valid call failed: ${summarize(outcome)}`, reproduction: JSON.stringify(fields) });
      }
    }
    return violations;
  }
}

export function summarize(outcome: Outcome): string {
  switch (outcome.kind) {
    case 'rpc':
      return `${outcome.code}${outcome.message ? `: ${outcome.message.slice(0, 200)}` : ''}`;
    case 'http':
      return `HTTP ${outcome.httpStatus} (${outcome.detail.slice(0, 200)})`;
    default:
      return `${outcome.kind}: ${outcome.detail}`;
  }
}

export function formatViolations(violations: readonly Violation[], limit = 8): string {
  const shown = violations.slice(0, limit).map((v, i) => `#${i + 1} ${v.category} — ${v.where}\n  ${v.detail}\n  ${v.reproduction.replaceAll('\n', '\n  ')}`);
  return `${violations.length} violation(s):\n${shown.join('\n')}${violations.length > limit ? `\n… and ${violations.length - limit} more` : ''}`;
}
