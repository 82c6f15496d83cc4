// Worker entry of a fuzz pass (fuzzInWorkers in fuzz.ts): TypeScript through tsx, then the loop.
// (On Node 20 a Worker's execArgv ['--import', 'tsx'] does not reach its module loader; register does.)
import { parentPort, workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { workerLoop } = await import('./fuzz.ts');
await workerLoop(workerData, parentPort);
