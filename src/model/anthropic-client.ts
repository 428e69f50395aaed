import Anthropic from '@anthropic-ai/sdk';
import type { Logger } from '../logger.ts';
import { startOfflineModel } from './emulator/index.ts';

export interface ModelOptions {
  apiKey: string | null;
  baseUrl: string | null;
  maxRetries: number;
  offlineTokensPerSecond: number;
}

export interface Model {
  anthropic: Anthropic;
  /** True when replies come from the built-in offline model. */
  offline: boolean;
  close(): Promise<void>;
}

/**
 * The one Anthropic client of an instance. Without an API key it points the real SDK at the
 * built-in wire emulator's offline model, so the prompt runner has a single code path.
 */
export async function connectModel(options: ModelOptions, logger: Logger): Promise<Model> {
  if (options.apiKey !== null) {
    const anthropic = new Anthropic({
      apiKey: options.apiKey,
      ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
      maxRetries: options.maxRetries,
    });
    return { anthropic, offline: false, close: async () => {} };
  }
  const offline = await startOfflineModel({
    tokensPerSecond: options.offlineTokensPerSecond === 0 ? Infinity : options.offlineTokensPerSecond,
  });
  logger.warn(
    'ANTHROPIC_API_KEY is not set: replies come from the OFFLINE MODEL, a built-in emulator of the Anthropic API. ' +
      'Set ANTHROPIC_API_KEY to talk to Claude.',
    { offlineModel: offline.baseURL },
  );
  const anthropic = new Anthropic({ apiKey: 'offline-model', baseURL: offline.baseURL, maxRetries: options.maxRetries });
  return { anthropic, offline: true, close: () => offline.close() };
}
