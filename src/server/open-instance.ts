import type { IncomingHttpHeaders } from 'node:http';

// While an instance runs open (no API key yet, on loopback), anyone who can make a browser send
// a request to the port is a caller. Two doors are closed then: a web page that resolves its own
// name to 127.0.0.1 (DNS rebinding) sends its own Host, and is refused; and CORS `*` stops
// echoing every origin, so that only origins named in CORS_ORIGINS may call from a browser.

/** Loopback names, with or without a port: what a local caller's Host header says. */
const LOOPBACK_HOST = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/i;

export interface OpenInstanceOptions {
  /** Whether the instance serves callers without credentials right now (cached by the caller). */
  isOpen: () => Promise<boolean>;
  /** Host names (without port) that are this instance's own, besides loopback ones; `*`: any. */
  allowedHosts: readonly string[];
}

/** The Host of a request: `host` on HTTP/1.1, `:authority` on HTTP/2. */
export function hostOf(headers: IncomingHttpHeaders): string {
  const authority = headers[':authority'];
  return (typeof authority === 'string' ? authority : headers.host ?? '').trim();
}

export function isAllowedHost(host: string, allowedHosts: readonly string[]): boolean {
  if (LOOPBACK_HOST.test(host) || allowedHosts.includes('*')) return true;
  const name = host.replace(/:\d+$/, '').toLowerCase();
  return allowedHosts.some((allowed) => allowed.toLowerCase() === name);
}
