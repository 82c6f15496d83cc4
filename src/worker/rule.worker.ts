// The sandbox of a JavaScript rule judge in the browser (engine/loop/rules.ts): one dedicated
// Worker per call, terminated by the page when the call runs past its time limit. Before the rule
// is compiled, every way out of the Worker this file can name is removed from the global object
// and each object on its prototype chain: network (fetch, XMLHttpRequest, WebSocket, EventSource,
// WebTransport), storage (indexedDB, caches), other workers and channels, imports, timers and the
// location. The app's Content-Security-Policy applies as well. The rule gets the response and the
// prompt as strings and answers with numbers or booleans (posted back as they are).
const reply = self.postMessage.bind(self);

const BLOCKED = [
  'fetch', 'XMLHttpRequest', 'WebSocket', 'EventSource', 'WebTransport', 'importScripts', 'indexedDB', 'caches',
  'BroadcastChannel', 'MessageChannel', 'Worker', 'SharedWorker', 'navigator', 'location', 'setTimeout', 'setInterval',
  'queueMicrotask', 'requestAnimationFrame', 'postMessage', 'close', 'onmessage', 'addEventListener', 'Request', 'Response',
  'WorkerGlobalScope', 'DedicatedWorkerGlobalScope', 'FileReader', 'FileSystemHandle', 'crypto', 'performance',
];

function lockDown(): void {
  for (let o: object | null = self; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of BLOCKED) {
      try {
        Object.defineProperty(o, name, { value: undefined, writable: false, configurable: false });
      } catch {
        // A property that cannot be redefined on this object: shadowed on `self` below.
      }
    }
  }
}

interface Request {
  source: string;
  inputs: { response: string; prompt: string }[];
}

self.onmessage = (e: MessageEvent<Request>) => {
  const { source, inputs } = e.data;
  lockDown();
  let rule: (response: string, prompt: string) => unknown;
  try {
    rule = new Function('response', 'prompt', `"use strict";\n${source}`) as typeof rule;
  } catch (x) {
    reply({ error: 'threw', candidate: null, message: String((x as Error)?.message ?? x) });
    return;
  }
  const results: unknown[] = [];
  for (let i = 0; i < inputs.length; i++) {
    let value: unknown;
    try {
      value = rule(String(inputs[i]!.response), String(inputs[i]!.prompt));
    } catch (x) {
      reply({ error: 'threw', candidate: i, message: String((x as Error)?.message ?? x) });
      return;
    }
    results.push(typeof value === 'number' || typeof value === 'boolean' ? value : `(${value === null ? 'null' : typeof value})`);
  }
  reply({ results });
};
