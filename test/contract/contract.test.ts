import { DEFAULT_CONTEXT_POLICY } from '../../src/domain/context-policy.ts';
import { DEFAULT_THINKING } from '../../src/domain/model-thinking.ts';
import { ownerOf } from '../support/owner.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConversationService } from '../../gen/parley/v1/conversation_service_pb.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { CLIENT_KINDS, createRpcClient, type RpcClient } from '../support/clients.ts';
import { contractCases, type Fixtures } from './cases.ts';

let server: TestApp;
let fixtures: Fixtures;

beforeAll(async () => {
  server = await startTestApp();
  const { conversations, snapshots } = server.app.stores;
  fixtures = {
    conversations,
    snapshots,
    conversationId: async () => (await conversations.create(ownerOf('default'), { title: 'fixture', settings: defaultSettings() })).id,
    countConversations: async () => {
      let count = 0;
      let after: string | null = null;
      do {
        const page = await conversations.list(ownerOf('default'), 100, after);
        count += page.conversations.length;
        after = page.nextAfterId;
      } while (after);
      return count;
    },
  };
});

afterAll(async () => {
  await server?.close();
});

function defaultSettings() {
  return {
    model: 'claude-sonnet-5-5',
    systemPrompt: '',
    maxTokens: 4096,
    thinkingBudgetTokens: 0,
    enabledTools: [],
    clientTools: [],
    context: DEFAULT_CONTEXT_POLICY,
    thinking: DEFAULT_THINKING,
  };
}

describe('every RPC of the service has contract cases', () => {
  for (const method of ConversationService.methods) {
    it(method.name, () => {
      expect(contractCases[method.name]?.length ?? 0, `no contract case for ${method.name}`).toBeGreaterThan(0);
    });
  }
});

for (const kind of CLIENT_KINDS) {
  describe(`over ${kind}`, () => {
    let client: RpcClient;
    beforeAll(() => {
      client = createRpcClient(kind, server.baseUrl);
    });
    afterAll(() => client?.close());

    for (const method of ConversationService.methods) {
      describe(method.name, () => {
        for (const contractCase of contractCases[method.name] ?? []) {
          it(contractCase.name, () => contractCase.run(client, fixtures));
        }
      });
    }
  });
}
