/**
 * g. The cost of authentication. In process: one Authenticator.authenticate call for a cached
 *    API key and for a JWT (ES256), against the open path. Over the wire: ListConversations
 *    round trips (grpc over h2c) to a Parley running open, with an API key, and with a JWT; and
 *    SendMessage → first token (as in d) on one instance, open, then with an API key, then with
 *    the key's tenant under budgets (tokens per day, requests per minute, running prompts).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClient, type Interceptor } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { Authenticator } from '../../src/engine/identity/authenticator.ts';
import { JwtVerifier } from '../../src/engine/identity/jwt-verifier.ts';
import { closeOrm, migrate, openOrm } from '../../src/store/orm.ts';
import { openStores } from '../../src/store/stores.ts';
import { now, sleep } from '../lib/clock.ts';
import { withParley, type Context } from '../lib/context.ts';
import { summarizeFirstTokens, type FirstTokenSample, type FirstTokenSummary } from '../lib/first-token.ts';
import { warmUp } from '../lib/load.ts';
import { probes } from './first-token.ts';
import { summarize, type Summary } from '../lib/stats.ts';

export interface AuthResult {
  /** One authenticate() call, microseconds. */
  inProcessUs: { open: Summary; apiKey: Summary; jwt: Summary };
  /** ListConversations round trip, milliseconds. */
  rpcMs: { open: Summary; apiKey: Summary; jwt: Summary };
  /** SendMessage → first token added by Parley, on one idle instance, flush 1 ms. */
  firstToken: { open: FirstTokenSummary; apiKey: FirstTokenSummary; apiKeyWithBudgets: FirstTokenSummary };
}

const ISSUER = 'https://auth.bench.example';
const AUDIENCE = 'parley';

export async function auth(ctx: Context): Promise<AuthResult> {
  const calls = ctx.quick ? 2_000 : 20_000;
  const rpcs = ctx.quick ? 500 : 5_000;
  const pair = await generateKeyPair('ES256');
  const jwtEnv = { PARLEY_JWT_PUBLIC_KEY: await exportSPKI(pair.publicKey), PARLEY_JWT_ISSUER: ISSUER, PARLEY_JWT_AUDIENCE: AUDIENCE };
  const token = await new SignJWT({ tenant: 'bench' }).setProtectedHeader({ alg: 'ES256' }).setSubject('user-1').setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('1h').sign(pair.privateKey);

  // In process, against a real key table.
  const database = await ctx.pg.createDatabase();
  await migrate(database.url);
  const orm = await openOrm({ databaseUrl: database.url, poolSize: 2 });
  let inProcessUs: AuthResult['inProcessUs'];
  let key: string;
  try {
    const { apiKeys } = await openStores(orm);
    key = (await apiKeys.create('bench')).key;
    const jwt = new JwtVerifier({ jwksUrl: null, publicKey: jwtEnv.PARLEY_JWT_PUBLIC_KEY, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant', subjectClaim: 'sub', clockSkewSeconds: 30 });
    const open = new Authenticator(apiKeys, { mode: 'off', cacheMs: 60_000, jwt: null });
    const secured = new Authenticator(apiKeys, { mode: 'auto', cacheMs: 60_000, jwt });
    const time = async (work: () => Promise<unknown>) => {
      for (let i = 0; i < 200; i++) await work(); // warm-up, and fills the key cache
      const samples: number[] = [];
      for (let i = 0; i < calls; i++) {
        const start = now();
        await work();
        samples.push((now() - start) * 1000);
      }
      return summarize(samples);
    };
    inProcessUs = {
      open: await time(() => open.authenticate(null)),
      apiKey: await time(() => secured.authenticate(`Bearer ${key}`)),
      jwt: await time(() => secured.authenticate(`Bearer ${token}`)),
    };
    ctx.log(`  in process, per call: open p50 ${inProcessUs.open.p50.toFixed(1)} µs; cached API key p50 ${inProcessUs.apiKey.p50.toFixed(1)} µs, p99 ${inProcessUs.apiKey.p99.toFixed(1)} µs; JWT p50 ${inProcessUs.jwt.p50.toFixed(1)} µs, p99 ${inProcessUs.jwt.p99.toFixed(1)} µs`);
  } finally {
    await closeOrm(orm);
    await ctx.pg.dropDatabase(database.name).catch(() => undefined);
  }

  // Over the wire.
  const roundTrips = async (port: number, authorization: string | null) => {
    const interceptors: Interceptor[] = authorization === null ? [] : [(next) => (request) => (request.header.set('authorization', authorization), next(request))];
    const client = createClient(ConversationService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}`, interceptors }));
    for (let i = 0; i < 100; i++) await client.listConversations({ pageSize: 10 });
    const samples: number[] = [];
    for (let i = 0; i < rpcs; i++) {
      const start = now();
      await client.listConversations({ pageSize: 10 });
      samples.push(now() - start);
    }
    return summarize(samples);
  };
  const open = await withParley(ctx, {}, (parley) => roundTrips(parley.port, null));
  const secured = await withParley(ctx, { env: { ...jwtEnv, PARLEY_AUTH_CACHE_MS: '60000' } }, async (parley) => {
    const { stdout } = await promisify(execFile)(process.execPath, ['src/cli/keys.ts', 'create', '--tenant', 'bench'], { env: { ...process.env, DATABASE_URL: parley.databaseUrl } });
    const benchKey = stdout.trim().split('\n').at(-1)!;
    return { apiKey: await roundTrips(parley.port, `Bearer ${benchKey}`), jwt: await roundTrips(parley.port, `Bearer ${token}`) };
  });
  const rpcMs = { open, ...secured };
  ctx.log(`  ListConversations round trip: open p50 ${rpcMs.open.p50.toFixed(2)} ms p99 ${rpcMs.open.p99.toFixed(2)}; API key p50 ${rpcMs.apiKey.p50.toFixed(2)} p99 ${rpcMs.apiKey.p99.toFixed(2)}; JWT p50 ${rpcMs.jwt.p50.toFixed(2)} p99 ${rpcMs.jwt.p99.toFixed(2)}`);
  const firstToken = await firstTokenWithAuth(ctx);
  return { inProcessUs, rpcMs, firstToken };
}

/**
 * One instance: open (no key yet), then with a key, its tenant with and without budgets in
 * alternating rounds. The same process and database throughout, so the phases differ by
 * authentication and budgets only (and by the few conversations the earlier ones left). Flush
 * 1 ms, where the first token is not held back by coalescing and a difference shows.
 */
async function firstTokenWithAuth(ctx: Context): Promise<AuthResult['firstToken']> {
  const perPhase = ctx.quick ? 20 : 60;
  const rounds = 4;
  const cli = (databaseUrl: string, ...args: string[]) => promisify(execFile)(process.execPath, ['src/cli/keys.ts', ...args], { env: { ...process.env, DATABASE_URL: databaseUrl } });
  // Past PARLEY_AUTH_CACHE_MS (default 2 s): every lookup sees the new key and limits.
  const settle = () => sleep(2_500);
  return withParley(ctx, { env: { PARLEY_MAX_CONCURRENT_PROMPTS: '256', PARLEY_DELTA_FLUSH_MS: '1' } }, async (parley) => {
    await warmUp(parley);
    const open = summarizeFirstTokens(await probes(parley, perPhase, 50));
    const { stdout } = await cli(parley.databaseUrl, 'create', '--tenant', 'bench');
    const authorization = `Bearer ${stdout.trim().split('\n').at(-1)!}`;
    const keyed: FirstTokenSample[] = [];
    const budgeted: FirstTokenSample[] = [];
    for (let round = 0; round < rounds; round++) {
      await cli(parley.databaseUrl, 'limits', '--tenant', 'bench', '--reset');
      await settle();
      keyed.push(...(await probes(parley, perPhase / rounds, 50, authorization)));
      await cli(parley.databaseUrl, 'limits', '--tenant', 'bench', '--tokens-per-day', '1000000000', '--requests-per-minute', '100000', '--running-prompts', '1000');
      await settle();
      budgeted.push(...(await probes(parley, perPhase / rounds, 50, authorization)));
    }
    const apiKey = summarizeFirstTokens(keyed);
    const apiKeyWithBudgets = summarizeFirstTokens(budgeted);
    const line = (name: string, s: FirstTokenSummary) => `${name} p50 ${s.addedMs.p50.toFixed(1)} ms p99 ${s.addedMs.p99.toFixed(1)}`;
    ctx.log(`  SendMessage → first token added (flush 1 ms): ${line('open', open)}; ${line('API key', apiKey)}; ${line('API key + budgets', apiKeyWithBudgets)}`);
    return { open, apiKey, apiKeyWithBudgets };
  });
}
