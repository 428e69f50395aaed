import { AnthropicEmulator } from './server.ts';

export interface OfflineModelServerOptions {
  /** Default 30; tests pass `Infinity`. */
  readonly tokensPerSecond?: number;
  /** Default 0: an ephemeral port on 127.0.0.1. */
  readonly port?: number;
  /** Default 200,000: longer requests get the API's "prompt is too long" 400. */
  readonly contextTokens?: number;
  /** Answered with the API's 404 for a model it no longer serves; see AnthropicEmulatorOptions. */
  readonly retiredModels?: readonly string[];
}

export interface OfflineModelServer {
  /** Give this to the SDK as `baseURL`. */
  readonly baseURL: string;
  close(): Promise<void>;
}

/**
 * The stand-in the service talks to when no ANTHROPIC_API_KEY is set: the emulator with only the
 * offline model behind it, so the prompt runner keeps its one code path through the real SDK.
 */
export async function startOfflineModel(options: OfflineModelServerOptions = {}): Promise<OfflineModelServer> {
  const emulator = new AnthropicEmulator({
    // Nothing reads the request log here, and a service runs for weeks: keep none.
    maxRecordedRequests: 0,
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.contextTokens !== undefined ? { contextTokens: options.contextTokens } : {}),
    ...(options.retiredModels !== undefined ? { retiredModels: options.retiredModels } : {}),
    offline: options.tokensPerSecond !== undefined ? { tokensPerSecond: options.tokensPerSecond } : {},
  });
  const baseURL = await emulator.start();
  return { baseURL, close: () => emulator.close() };
}
