import type { InProcessTool } from '../types.ts';
import { calculateTool } from './calculate.ts';
import { currentTimeTool } from './current-time.ts';

export interface BuiltinToolsOptions {
  /** The clock for current_time; injectable so tests can fix the instant. */
  now?: () => Date;
}

export function builtinTools(options: BuiltinToolsOptions = {}): InProcessTool[] {
  return [currentTimeTool(options.now ? { now: options.now } : {}), calculateTool()];
}
