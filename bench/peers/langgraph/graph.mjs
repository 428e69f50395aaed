// The one-node graph the LangGraph peer serves: the conversation's messages go to Claude (the
// emulator, through @langchain/anthropic and its own copy of @anthropic-ai/sdk) and the reply is
// appended. Streamed to the client with stream_mode "messages-tuple", token by token.
import process from 'node:process';
import { ChatAnthropic } from '@langchain/anthropic';
import { MessagesAnnotation, StateGraph } from '@langchain/langgraph';

const model = new ChatAnthropic({
  model: 'claude-sonnet-5-5',
  apiKey: 'bench',
  anthropicApiUrl: process.env.BENCH_EMULATOR_URL,
  maxTokens: 128_000,
  streaming: true,
  maxRetries: 0,
});

export const graph = new StateGraph(MessagesAnnotation)
  .addNode('model', async (state) => ({ messages: [await model.invoke(state.messages)] }))
  .addEdge('__start__', 'model')
  .compile();
