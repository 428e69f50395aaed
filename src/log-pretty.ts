/** Fields every line has, shown in the line's head or left out: a terminal is one instance's. */
const HEAD = new Set(['time', 'level', 'msg', 'instanceId']);

/**
 * One JSON log line as a line for a person at a terminal: `12:00:00.123 INFO  message key=value`,
 * then the stack of any error among the fields, indented.
 */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 23) : '';
  const level = String(entry.level ?? '').toUpperCase().padEnd(5);
  const stacks: string[] = [];
  const fields = Object.entries(entry)
    .filter(([key]) => !HEAD.has(key))
    .map(([key, value]) => {
      if (isSerialisedError(value)) {
        if (value.stack) stacks.push(indent(value.stack));
        return `${key}=${shown(`${value.name}: ${value.message}`)}`;
      }
      return `${key}=${shown(value)}`;
    });
  return `${[time, level, String(entry.msg ?? ''), ...fields].join(' ')}\n${stacks.join('')}`;
}

function shown(value: unknown): string {
  if (typeof value === 'string' && /^[^\s"=]+$/.test(value)) return value;
  return JSON.stringify(value) ?? String(value);
}

function isSerialisedError(value: unknown): value is { name: string; message: string; stack?: string } {
  return typeof value === 'object' && value !== null && 'name' in value && 'message' in value && 'stack' in value;
}

function indent(stack: string): string {
  return `${stack.split('\n').map((line) => `    ${line}`).join('\n')}\n`;
}
