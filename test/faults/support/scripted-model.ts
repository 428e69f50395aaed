// A scripted model for fault tests: the reply to a question is a pure function of the question's
// text, so after any number of crashes a test can tell whether a stored answer is exactly the
// scripted one (and not two attempts stitched together), and the responder checks every history
// that reaches it: each assistant turn must be the full scripted answer to the user turn before it.
import { textTurn, type MessagesRequest, type Responder, type WireMessage } from '../../../src/emulator/index.ts';
import { seededRandom } from '../../support/grpc-subscriber.ts';

export interface ScriptedReply {
  text: string;
  tokensPerSecond: number;
}

export interface ScriptOptions {
  /** Words per reply: from `minWords` to `maxWords`. */
  minWords: number;
  maxWords: number;
  /** Pace of each reply: from `minTokensPerSecond` to `maxTokensPerSecond`. */
  minTokensPerSecond: number;
  maxTokensPerSecond: number;
}

/** Questions are `<conversation tag> q<n>`; the tag names the conversation in the model's log. */
export function question(tag: string, n: number): string {
  return `${tag} q${n}`;
}

function parseQuestion(text: string): { tag: string; n: number } | null {
  const match = /^(\S+) q(\d+)$/.exec(text);
  return match ? { tag: match[1]!, n: Number(match[2]) } : null;
}

export function scriptedReply(text: string, options: ScriptOptions): ScriptedReply {
  let hash = 2166136261;
  for (const char of text) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  const random = seededRandom(hash);
  const words = options.minWords + Math.floor(random() * (options.maxWords - options.minWords + 1));
  const tokensPerSecond = options.minTokensPerSecond + Math.floor(random() * (options.maxTokensPerSecond - options.minTokensPerSecond + 1));
  const tag = text.replace(/\s+/g, '_');
  const body = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
  return { text: `[${tag}] ${body} [end ${tag}]`, tokensPerSecond };
}

export function turnText(message: WireMessage): string {
  if (typeof message.content === 'string') return message.content;
  return message.content.filter((block) => block.type === 'text').map((block) => String(block.text)).join('');
}

export interface ModelCall {
  /** The question answered (the last user turn). */
  question: string;
  /** The earlier questions in the history, in order. */
  earlier: string[];
  /** Which instance asked (see `responderFor`); undefined for `responder`. */
  source?: string;
  /** Date.now() when the request arrived. */
  at: number;
}

export interface ScriptedModel {
  responder: Responder;
  /** The same, recording `source` with each call: give each instance its own emulator with one of these. */
  responderFor(source: string): Responder;
  /** Every model call, in arrival order. */
  calls: ModelCall[];
  /** Histories that broke the script: an answer that is not the full scripted one, or questions out of order. */
  violations: string[];
  /** Model calls per question. */
  callsFor(question: string): number;
}

export function scriptedModel(options: ScriptOptions): ScriptedModel {
  const calls: ModelCall[] = [];
  const violations: string[] = [];
  const check = (request: MessagesRequest): ModelCall => {
    const turns = request.messages;
    const last = turns.at(-1);
    if (!last || last.role !== 'user') {
      violations.push(`a request does not end with a user turn: ${JSON.stringify(turns)}`);
      return { question: '?', earlier: [], at: Date.now() };
    }
    const users: string[] = [];
    turns.forEach((turn, i) => {
      if (turn.role === 'user') {
        users.push(turnText(turn));
        return;
      }
      const before = turns[i - 1];
      const expected = before ? scriptedReply(turnText(before), options).text : '(nothing)';
      if (turnText(turn) !== expected) {
        violations.push(`answer to "${before ? turnText(before) : ''}" in history is not the scripted one: "${turnText(turn).slice(0, 200)}"`);
      }
    });
    const parsed = users.map(parseQuestion);
    const tag = parsed.at(-1)?.tag;
    for (let i = 0; i < parsed.length; i++) {
      const p = parsed[i];
      if (!p || p.tag !== tag || (i > 0 && p.n <= parsed[i - 1]!.n)) {
        violations.push(`questions out of order or from another conversation: ${JSON.stringify(users)}`);
        break;
      }
    }
    return { question: users.at(-1)!, earlier: users.slice(0, -1), at: Date.now() };
  };
  const responderFor = (source: string | undefined): Responder => (request) => {
    const call = check(request);
    calls.push(source === undefined ? call : { ...call, source });
    const reply = scriptedReply(call.question, options);
    return textTurn(reply.text, { tokensPerSecond: reply.tokensPerSecond });
  };
  return {
    calls,
    violations,
    callsFor: (q) => calls.filter((c) => c.question === q).length,
    responder: responderFor(undefined),
    responderFor,
  };
}
