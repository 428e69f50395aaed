// Hostile input on every RPC over every protocol, against the real app and a real database.
// For every input: the server answers (no crash, no hang), a client's mistake gets a client-error
// code (never internal), and only accepted calls change what is stored. A valid call still works
// after every batch. Seeded: FUZZ_SEED=<n> varies the inputs, FUZZ_RUNS=<n> the random inputs
// per RPC and protocol (40). FUZZ_REPORT=<file> writes every violation with its whole request as
// JSON; FUZZ_VERBOSE=1 prints what each RPC answered and the kinds of input sent. Every loop is
// bounded in count, every request in time. Bugs found and not fixed yet: known-bugs.ts.
import { writeFile } from 'node:fs/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { createRpcClient } from '../support/clients.ts';
import { DatabaseWatch, unexplainedChanges } from './database.ts';
import { Fixtures } from './fixtures.ts';
import { fixedInputs, inputArbitrary, PROTOCOLS, type FuzzInput } from './generate.ts';
import { judge, Tally, type Violation } from './judge.ts';
import { FuzzRunner, formatViolations } from './runner.ts';
import { rawExchange, type RawResult } from './wire.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_124);
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** A stable small number per name, so each batch has its own seed derived from FUZZ_SEED. */
function seedFor(...names: string[]): number {
  let hash = SEED | 0;
  for (const ch of names.join('/')) hash = (Math.imul(hash, 31) + ch.charCodeAt(0)) | 0;
  return hash;
}

let app: TestApp;
let db: DatabaseWatch;
let fixtures: Fixtures;
let runner: FuzzRunner;
const tally = new Tally();

beforeAll(async () => {
  app = await startTestApp({
    // the offline model, as fast as it goes: an accepted SendMessage is answered at once
    PARLEY_OFFLINE_TOKENS_PER_SECOND: '0',
    // the fixture's client tool call must not time out (and write) during the run
    PARLEY_CLIENT_TOOL_TIMEOUT_MS: '3600000',
    // a Subscribe that resumes with nothing to replay sends its first message at the first
    // heartbeat: make that soon, so every accepted Subscribe answers well within the timeout
    PARLEY_HEARTBEAT_MS: '500',
    LOG_LEVEL: 'silent',
  });
  db = await DatabaseWatch.open(app.databaseUrl);
  fixtures = new Fixtures(app.baseUrl, db);
  runner = new FuzzRunner(app, db, fixtures, tally);
  await fixtures.refresh(runner.touched);
  console.log(`fuzz: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}`);
});

afterAll(async () => {
  console.log(tally.summary());
  if (process.env.FUZZ_VERBOSE) {
    console.log([...tally.answers].sort().map(([answer, n]) => `  ${answer}: ${n}`).join('\n'));
    console.log([...tally.kinds].sort().map(([kind, n]) => `  ${kind}: ${n}`).join('\n'));
  }
  // FUZZ_REPORT=<file>: every violation, with its exact request, as JSON.
  if (process.env.FUZZ_REPORT) await writeFile(process.env.FUZZ_REPORT, JSON.stringify(tally.violations, null, 1));
  if (db) console.log(`fuzz: rows stored at the end: ${JSON.stringify(await db.counts())}`);
  runner?.close();
  fixtures?.close();
  await db?.close();
  await app?.close();
});

function expectNoViolations(violations: readonly Violation[]): void {
  expect(violations, formatViolations(violations)).toEqual([]);
}

describe('harness', () => {
  it('notices a write no accepted call explains, an internal error, and a reset without an answer', async () => {
    const before = await db.fingerprint();
    const client = createRpcClient('connect-node/connect', app.baseUrl);
    const created = await client.unary('CreateConversation', { title: 'written behind the fuzzer’s back' });
    client.close();
    const after = await db.fingerprint();
    const changes = unexplainedChanges(before, after, runner.touched);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toContain('no accepted call created it');
    // From here on it is explained.
    runner.touched.add(((created.ok ? created.response : {}) as { conversation?: { id?: string } }).conversation?.id ?? '');
    expect(judge({}, { kind: 'rpc', code: 'internal', httpStatus: 500, message: 'x', responses: [] })).toMatchObject({ ok: false, category: 'internal' });
    expect(judge({}, { kind: 'closed', detail: 'reset' })).toMatchObject({ ok: false, category: 'crash' });
    expect(judge({}, { kind: 'http', httpStatus: 200, detail: 'no grpc-status' })).toMatchObject({ ok: false, category: 'crash' });
    expect(judge({}, { kind: 'rpc', code: 'invalid_argument', httpStatus: 400, message: 'x', responses: [] })).toEqual({ ok: true, accepted: false });
  });
});

describe.each(PROTOCOLS)('$name', (protocol) => {
  it.each(ConversationService.methods.map((method) => ({ method, name: method.name })))(
    '$name: hostile inputs get client errors, write nothing, and the server stays up',
    async ({ method }) => {
      await fixtures.refresh(runner.touched);
      const options = { protocol, method, pools: fixtures.pools() };
      const inputs: FuzzInput[] = [...fixedInputs(options), ...fc.sample(inputArbitrary(options), { seed: seedFor(protocol.name, method.name), numRuns: RUNS })];
      expectNoViolations(await runner.run(protocol, inputs));
    },
    60_000,
  );
});

// ---------------------------------------------------------------------------------------------
// Below HTTP: bytes that are not a request of any protocol.

/** Whether the listener would treat these bytes as the start of an HTTP/2 preface and wait for the rest. */
function isPartialPreface(bytes: Uint8Array): boolean {
  return bytes.length < H2_PREFACE.length && H2_PREFACE.subarray(0, bytes.length).equals(Buffer.from(bytes));
}

type RawVerdict = { ok: true } | { ok: false; category: Violation['category']; detail: string };

function rawVerdict(result: RawResult): RawVerdict {
  if (result.end === 'timeout') return { ok: false, category: 'hang', detail: `the server neither answered nor closed the connection (received ${result.received.length} bytes)` };
  const text = result.received.toString('latin1');
  // An internal error in a gRPC-Web trailer frame or a Connect error body.
  if (/grpc-status: ?13\b/i.test(text) || text.includes('"code":"internal"')) return { ok: false, category: 'internal', detail: `an internal error: ${text.slice(0, 300)}` };
  if (result.httpStatus !== null && result.httpStatus >= 500) return { ok: false, category: 'crash', detail: `HTTP ${result.httpStatus}: ${text.slice(0, 300)}` };
  return { ok: true };
}

async function rawBatch(name: string, inputs: ReadonlyArray<{ kind: string; bytes: Uint8Array }>): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const { kind, bytes } of inputs) {
    const result = await rawExchange(app.port, bytes, { timeoutMs: 5_000, halfClose: true });
    tally.inputs++;
    tally.kinds.set(kind, (tally.kinds.get(kind) ?? 0) + 1);
    const verdict = rawVerdict(result);
    if (verdict.ok) tally.rejected++;
    else {
      violations.push({
        category: verdict.category,
        where: `tcp ${name} [${kind}]`,
        detail: verdict.detail,
        reproduction: `bytes (hex, first 512): ${Buffer.from(bytes).subarray(0, 512).toString('hex')} (${bytes.length} bytes), then FIN`,
      });
    }
  }
  for (const protocol of PROTOCOLS) violations.push(...(await runner.liveness(protocol)));
  tally.violations.push(...violations);
  return violations;
}

const GRPC_HEADERS_PREFIX = Buffer.from(
  'POST /parley.v1.ConversationService/GetConversation HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/grpc-web+proto\r\n',
);

describe('transport', () => {
  it('raw TCP: random bytes then close, with and without an HTTP start', async () => {
    const arbitrary = fc
      .tuple(
        fc.constantFrom('none', 'h1-request-line', 'h1-headers', 'h2-preface'),
        fc.oneof({ weight: 4, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 256 }) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 20_000 }) }),
      )
      .map(([prefix, random]) => {
        const head =
          prefix === 'none'
            ? Buffer.alloc(0)
            : prefix === 'h1-request-line'
              ? GRPC_HEADERS_PREFIX.subarray(0, GRPC_HEADERS_PREFIX.indexOf('\r\n') + 2)
              : prefix === 'h1-headers'
                ? Buffer.concat([GRPC_HEADERS_PREFIX, Buffer.from(`Content-Length: ${random.length}\r\n\r\n`)])
                : H2_PREFACE;
        return { kind: `tcp:${prefix}+random`, bytes: Buffer.concat([head, random]) };
      })
      // A proper prefix of the HTTP/2 preface then FIN is held until the listener's routing
      // timeout (10 s, listener.ts), longer than rawExchange waits: not a hang of the server.
      .filter(({ bytes }) => !isPartialPreface(bytes));
    const inputs = fc.sample(arbitrary, { seed: seedFor('tcp'), numRuns: 120 });
    expectNoViolations(await rawBatch('random bytes', inputs));
  }, 60_000);

  it('garbage before the HTTP/2 preface', async () => {
    const arbitrary = fc
      .tuple(fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.uint8Array({ maxLength: 64 }))
      .map(([garbage, after]) => ({ kind: 'garbage+preface', bytes: Buffer.concat([garbage, H2_PREFACE, after]) }));
    const fixed = [
      { kind: 'crlf+preface', bytes: Buffer.concat([Buffer.from('\r\n'), H2_PREFACE]) },
      { kind: 'preface-typo', bytes: Buffer.from('PRI * HTTP/2.1\r\n\r\nSM\r\n\r\n') },
      { kind: 'preface-lowercase', bytes: Buffer.from('pri * http/2.0\r\n\r\nsm\r\n\r\n') },
      { kind: 'h1-upgrade-h2c', bytes: Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n') },
    ];
    const inputs = [...fixed, ...fc.sample(arbitrary, { seed: seedFor('garbage-preface'), numRuns: 40 })];
    expectNoViolations(await rawBatch('garbage before the preface', inputs));
  }, 60_000);

  it('HTTP/1.1 requests with absurd headers', async () => {
    const path = '/parley.v1.ConversationService/GetConversation';
    const request = (headerLines: string, body = '', requestLine = `POST ${path} HTTP/1.1`) =>
      Buffer.from(`${requestLine}\r\nHost: 127.0.0.1\r\n${headerLines}\r\n${body}`, 'latin1');
    const json = 'Content-Type: application/json\r\n';
    const inputs = [
      { kind: 'header:100KiB-value', bytes: request(`${json}X-Absurd: ${'a'.repeat(100 * 1024)}\r\nContent-Length: 2\r\n`, '{}') },
      { kind: 'header:2000-headers', bytes: request(`${json}${Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\nContent-Length: 2\r\n`, '{}') },
      { kind: 'header:10KiB-content-type', bytes: request(`Content-Type: application/json;${'x'.repeat(10 * 1024)}\r\nContent-Length: 2\r\n`, '{}') },
      { kind: 'header:huge-content-length', bytes: request(`${json}Content-Length: 99999999999999999999\r\n`, '{}') },
      { kind: 'header:negative-content-length', bytes: request(`${json}Content-Length: -1\r\n`, '{}') },
      { kind: 'header:two-content-lengths', bytes: request(`${json}Content-Length: 2\r\nContent-Length: 3\r\n`, '{}') },
      { kind: 'header:chunked-and-length', bytes: request(`${json}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n`, '2\r\n{}\r\n0\r\n\r\n') },
      { kind: 'header:bad-chunk-size', bytes: request(`${json}Transfer-Encoding: chunked\r\n`, 'zz\r\n{}\r\n0\r\n\r\n') },
      { kind: 'header:chunk-4GiB', bytes: request(`${json}Transfer-Encoding: chunked\r\n`, 'ffffffff\r\n{}') },
      { kind: 'header:unknown-transfer-encoding', bytes: request(`${json}Transfer-Encoding: bogus\r\n`, '{}') },
      { kind: 'header:name-with-space', bytes: request(`${json}Bad Name: v\r\nContent-Length: 2\r\n`, '{}') },
      { kind: 'header:nul-in-value', bytes: request(`${json}X-Nul: a\u0000b\r\nContent-Length: 2\r\n`, '{}') },
      { kind: 'header:obs-fold', bytes: request(`Content-Type: application/\r\n json\r\nContent-Length: 2\r\n`, '{}') },
      { kind: 'header:bare-lf', bytes: Buffer.from(`POST ${path} HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 2\n\n{}`) },
      { kind: 'header:no-colon', bytes: request(`${json}NoColonHere\r\nContent-Length: 2\r\n`, '{}') },
      { kind: 'header:non-ascii', bytes: request(`${json}X-Ü: ÿÿÿ\r\nContent-Length: 2\r\n`, '{}') },
      { kind: 'header:expect-continue-no-body', bytes: request(`${json}Expect: 100-continue\r\nContent-Length: 5\r\n`) },
      { kind: 'header:connect-timeout-absurd', bytes: request(`${json}Connect-Timeout-Ms: 1e999\r\nContent-Length: 2\r\n`, '{}') },
      { kind: 'header:grpc-timeout-absurd', bytes: request(`Content-Type: application/grpc-web+proto\r\nGrpc-Timeout: 99999999999999999999H\r\nContent-Length: 5\r\n`, '\0\0\0\0\0') },
      { kind: 'request-line:absurd-method', bytes: request(`${json}Content-Length: 2\r\n`, '{}', `FROBNICATE ${path} HTTP/1.1`) },
      { kind: 'request-line:20KiB-path', bytes: request(`${json}Content-Length: 2\r\n`, '{}', `POST /${'p'.repeat(20 * 1024)} HTTP/1.1`) },
      { kind: 'request-line:http-3', bytes: request(`${json}Content-Length: 2\r\n`, '{}', `POST ${path} HTTP/3.0`) },
      { kind: 'request-line:http-0.9', bytes: Buffer.from(`GET ${path}\r\n`) },
      { kind: 'request-line:http-1.0-no-host', bytes: Buffer.from(`POST ${path} HTTP/1.0\r\n${json}Content-Length: 2\r\n\r\n{}`) },
      { kind: 'request-line:absolute-uri', bytes: request(`${json}Content-Length: 2\r\n`, '{}', `POST http://evil.example${path} HTTP/1.1`) },
      { kind: 'request-line:dot-segments', bytes: request(`${json}Content-Length: 2\r\n`, '{}', `POST /a/../parley.v1.ConversationService/GetConversation HTTP/1.1`) },
    ];
    expectNoViolations(await rawBatch('absurd HTTP/1.1', inputs));
  }, 60_000);
});

describe('at the end', () => {
  it('the server still answers valid calls on every protocol', async () => {
    const violations: Violation[] = [];
    for (const protocol of PROTOCOLS) violations.push(...(await runner.liveness(protocol)));
    tally.violations.push(...violations);
    expectNoViolations(violations);
  });
});
