import type { InProcessTool, ToolContext } from '../../src/tools/types.ts';

export function context(signal: AbortSignal = new AbortController().signal): ToolContext {
  return { signal, conversationId: 'conv-1' };
}

export function fakeTool(overrides: Partial<InProcessTool> & Pick<InProcessTool, 'name'>): InProcessTool {
  return {
    description: `The ${overrides.name} tool.`,
    inputSchema: { type: 'object', properties: {} },
    execute: async () => 'ok',
    ...overrides,
  };
}

/** A promise the test settles by hand, so ordering is driven by the test rather than by timers. */
export function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (error: unknown) => void } {
  return Promise.withResolvers<T>();
}
