/**
 * Peer: the Vercel AI SDK (`ai` + `@ai-sdk/anthropic`) streaming a text reply over a plain
 * node:http server, as its docs show for Node: POST /chat {prompt} → streamText(...) piped as a
 * text stream. No storage, no resume, no fan-out: the floor of "a proxy in front of the model".
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAnthropic } from '@ai-sdk/anthropic';
import { pipeTextStreamToResponse, streamText, toTextStream } from 'ai';
import { announceReady, serveParent } from '../lib/ipc.ts';

const emulatorUrl = process.env.BENCH_EMULATOR_URL;
if (!emulatorUrl) throw new Error('BENCH_EMULATOR_URL is not set');
const anthropic = createAnthropic({ baseURL: `${emulatorUrl}/v1`, apiKey: 'bench' });

const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/chat') {
    res.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const { prompt } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { prompt: string };
    const result = streamText({
      model: anthropic('claude-sonnet-5-5'),
      prompt,
      maxOutputTokens: 128_000,
      maxRetries: 0,
      onError: ({ error }) => console.error('streamText error', error),
    });
    void pipeTextStreamToResponse({ response: res, stream: toTextStream({ stream: result.stream }) });
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as AddressInfo;

serveParent({}, () =>
  new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  }),
);
announceReady({ port });
