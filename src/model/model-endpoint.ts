import type { Logger } from '../logger.ts';
import { startOfflineModel } from '../emulator/index.ts';

export interface ModelEndpoint {
  apiKey: string;
  /** null: the SDK's default (or ANTHROPIC_BASE_URL as the SDK reads it). */
  baseURL: string | null;
  /** True when replies come from the built-in offline model. */
  offline: boolean;
  close(): Promise<void>;
}

/**
 * Where the one Anthropic client of an instance points. Without an API key, at the built-in
 * wire emulator's offline model, so that the prompt runner has a single code path: the SDK.
 */
export async function modelEndpoint(
  options: { apiKey: string | null; baseUrl: string | null; offlineTokensPerSecond: number; offlineContextTokens: number },
  logger: Logger,
): Promise<ModelEndpoint> {
  if (options.apiKey !== null) {
    return { apiKey: options.apiKey, baseURL: options.baseUrl, offline: false, close: async () => {} };
  }
  const offline = await startOfflineModel({
    tokensPerSecond: options.offlineTokensPerSecond === 0 ? Infinity : options.offlineTokensPerSecond,
    contextTokens: options.offlineContextTokens,
  });
  logger.warn(
    'ANTHROPIC_API_KEY is not set: replies come from the OFFLINE MODEL, a built-in emulator of the Anthropic API. ' +
      'Set ANTHROPIC_API_KEY to talk to Claude.',
    { offlineModel: offline.baseURL },
  );
  return { apiKey: 'offline-model', baseURL: offline.baseURL, offline: true, close: () => offline.close() };
}
