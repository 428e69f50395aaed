/** Why the port could not be bound, in one sentence naming the setting to change. */
export function listenFailure(error: unknown, host: string, port: number): Error {
  const code = error instanceof Error && 'code' in error ? error.code : undefined;
  const at = `port ${port} on ${host}`;
  const reason =
    code === 'EADDRINUSE' ? `${at} is in use; set PORT to a free port.`
    : code === 'EACCES' ? `${at} may not be bound by this user; set PORT to 1024 or above.`
    : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
      ? `${host} is not an address of this machine; set HOST (127.0.0.1 serves this machine only, 0.0.0.0 every network).`
    : `could not listen on ${at}: ${error instanceof Error ? error.message : String(error)}.`;
  return new Error(reason, { cause: error });
}
