import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import type { Authenticator } from './authenticator.ts';

/**
 * Open (no key yet) is fine on loopback, where only this machine reaches the port; anywhere else
 * the instance refuses to start until a key exists or the operator turns authentication off.
 */
export async function checkAuthentication(config: Pick<Config, 'auth' | 'host'>, authenticator: Authenticator, logger: Logger): Promise<void> {
  if (config.auth === 'off') {
    logger.warn('PARLEY_AUTH=off: every caller acts for the tenant "default" and sees all of its conversations');
    return;
  }
  if (!(await authenticator.isOpen())) return;
  if (!isLoopback(config.host)) {
    throw new Error(
      `No API key exists and HOST=${config.host} is not a loopback address: anyone who reaches the port could use Parley. ` +
        'Create a key first (npm run keys -- create --tenant <name>), bind to 127.0.0.1, or set PARLEY_AUTH=off.',
    );
  }
  logger.warn('No API key exists: Parley runs OPEN on loopback, every caller acting for the tenant "default". Create a key with npm run keys -- create --tenant <name>; from then on every request needs one.');
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
