/**
 * The Anthropic wire emulator in its own process, answering every request from the ReplySpec in
 * its newest user message. Stamped replies get their emit times filled in as each event is
 * written to the socket, so a receiver can tell how long each token took to reach it.
 */
import http from 'node:http';
import { AnthropicEmulator, textTurn, type MessagesRequest, type RecordedRequest, type Turn } from '../../src/emulator/index.ts';
import { now } from '../lib/clock.ts';
import { announceReady, serveParent } from '../lib/ipc.ts';
import { formatStamp, parseSpec, replyText } from '../lib/reply-spec.ts';

const arrivals = new Map<string, number>();
let requests = 0;

// Fill in stamps as the event is written: `" ~"` → `" ~<now>"`, `" A"` → `" A<arrival>~<now>"`.
const write = http.ServerResponse.prototype.write;
http.ServerResponse.prototype.write = function stampedWrite(this: http.ServerResponse, chunk: unknown, ...rest: unknown[]) {
  if (typeof chunk === 'string' && chunk.startsWith('event: content_block_delta')) {
    if (chunk.includes('"text":" ~"')) {
      chunk = chunk.replace('"text":" ~"', `"text":" ~${formatStamp(now())}"`);
    } else if (chunk.includes('"text":" A"')) {
      const requestId = String(this.getHeader('request-id'));
      const arrival = arrivals.get(requestId) ?? Number.NaN;
      arrivals.delete(requestId);
      chunk = chunk.replace('"text":" A"', `"text":" A${formatStamp(arrival)}~${formatStamp(now())}"`);
    }
  }
  return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
} as typeof write;

function lastUserText(request: MessagesRequest): string {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i]!;
    if (message.role !== 'user') continue;
    if (typeof message.content === 'string') return message.content;
    return message.content
      .filter((block) => block.type === 'text' && typeof block.text === 'string')
      .map((block) => block.text as string)
      .join('');
  }
  return '';
}

function respond(request: MessagesRequest, recorded: RecordedRequest): Turn {
  requests += 1;
  const spec = parseSpec(lastUserText(request));
  if (!spec) return textTurn(' no benchmark spec in the prompt');
  if (spec.arrival) arrivals.set(recorded.requestId, now());
  return textTurn(replyText(spec), { tokensPerSecond: spec.tokensPerSecond > 0 ? spec.tokensPerSecond : Infinity });
}

const emulator = new AnthropicEmulator({ responder: respond, maxRecordedRequests: 20 });
const url = await emulator.start();

serveParent(
  {
    stats: () => ({ requests, inFlight: emulator.inFlight, rss: process.memoryUsage().rss, cpu: process.cpuUsage() }),
  },
  () => emulator.close(),
);
announceReady({ url });
