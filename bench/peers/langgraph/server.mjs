// LangGraph's JS server (@langchain/langgraph-api: the runtime behind `langgraphjs dev`) in a
// child process of the bench: in-memory threads, runs and checkpoints, persisted to files in a
// temporary directory; 10 run workers.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { startServer } from '@langchain/langgraph-api/server';
import { announceReady, serveParent } from '../../lib/ipc.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const cwd = await mkdtemp(path.join(os.tmpdir(), 'parley-bench-langgraph-'));
const { host, cleanup } = await startServer({
  port: 0,
  nWorkers: Number(process.env.BENCH_LANGGRAPH_WORKERS ?? 10),
  host: '127.0.0.1',
  cwd,
  graphs: { agent: `${path.join(here, 'graph.mjs')}:graph` },
});

serveParent({}, async () => {
  await cleanup();
  await rm(cwd, { recursive: true, force: true });
});
announceReady({ port: Number(host.split(':').at(-1)) });
