/** Streaming HTTP clients for the peers, on node:http with keep-alive (loopback only). */
import http from 'node:http';
import { now } from './clock.ts';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export interface HttpTarget {
  port: number;
}

/** POSTs JSON and calls `onChunk` with each piece of the response body as it is read. */
export function postStream(target: HttpTarget, path: string, body: unknown, onChunk: (text: string, at: number) => void, timeoutMs = 120_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        host: '127.0.0.1',
        port: target.port,
        path,
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': payload.length, accept: 'text/event-stream, text/plain' },
        timeout: timeoutMs,
      },
      (res) => {
        res.setEncoding('utf8');
        if ((res.statusCode ?? 0) >= 300) {
          let text = '';
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => reject(new Error(`POST ${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`)));
          return;
        }
        res.on('data', (chunk: string) => onChunk(chunk, now()));
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`POST ${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export async function postJson<T>(target: HttpTarget, path: string, body: unknown): Promise<T> {
  let text = '';
  await postStream(target, path, body, (chunk) => (text += chunk), 30_000);
  return JSON.parse(text) as T;
}

/** Splits a Server-Sent Events stream into events, across chunk boundaries. */
export class SseParser {
  #buffer = '';
  readonly #onEvent: (event: string, data: string, at: number) => void;

  constructor(onEvent: (event: string, data: string, at: number) => void) {
    this.#onEvent = onEvent;
  }

  push(chunk: string, at: number): void {
    this.#buffer += chunk;
    for (let end = this.#buffer.indexOf('\n\n'); end >= 0; end = this.#buffer.indexOf('\n\n')) {
      const raw = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of raw.split(/\r?\n/)) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length) this.#onEvent(event, data.join('\n'), at);
    }
  }
}

export function closeHttpAgent(): void {
  agent.destroy();
}
