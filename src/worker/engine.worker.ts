// The engine Worker: owns the GPUDevice and the Engine, off the main thread so long GPU work
// never blocks the UI. The main thread talks to it through comlink (src/services/gpu.ts,
// src/services/models.ts). Each concern is a module; this file only wires them to the API:
//   engine.ts   the one Engine and the GPU lock      tasks.ts   cancellable task ids
//   models.ts   import, store, activate the model    generate.ts sampling, streamed
//   train.ts    training runs (on this Worker's device, where the model's weights are)
//   evaluate.ts base vs tuned adapters on a dataset's pairs; imported PEFT adapters
//   loop.ts     the on-policy loop: generation jobs, model and reward judges, held-out samples
import * as Comlink from 'comlink';
import { settle } from './errors.js';
import { getEngine } from './engine.js';
import { generateText, setAdapterResolver } from './generate.js';
import { activateModel, describeActive, importModel, setModelInUseCheck, unloadModel, urlVariants } from './models.js';
import { createEvaluateModule } from './evaluate.js';
import { createTrainModule } from './train.js';
import { createLoopModule } from './loop.js';
import { workerTrainHost } from './train-host.js';
import type { EngineWorkerApi } from './protocol.js';
import { cancelTask, runTask } from './tasks.js';
import { forceKernelVariants, kernelTuningReport, tuneActiveModel } from './tuning.js';

/** comlink proxies must be released or the page side keeps their ports open. */
function released<T extends (...args: never[]) => unknown>(callback: T | undefined): { callback: T | undefined; release(): void } {
  return {
    callback,
    release: () => (callback as unknown as { [Comlink.releaseProxy]?: () => void } | undefined)?.[Comlink.releaseProxy]?.(),
  };
}

const trainHost = workerTrainHost();
const training = createTrainModule(trainHost);
setModelInUseCheck(training.modelInUse);
const evaluation = createEvaluateModule({ ...trainHost, resolveRunAdapter: training.resolveAdapter });
setAdapterResolver(evaluation.wrapResolver(training.resolveAdapter));
const loop = createLoopModule({ ...trainHost, resolveRunAdapter: evaluation.wrapResolver(training.resolveAdapter) });

const api: EngineWorkerApi = {
  ...training.api,

  judgeSets: loop.api.judgeSets,
  heldOutSamples: loop.api.heldOutSamples,

  async runGeneration(taskId, jobId, onProgress) {
    const progress = released(onProgress);
    try {
      return await loop.api.runGeneration(taskId, jobId, progress.callback);
    } finally {
      progress.release();
    }
  },

  async judgeDataset(taskId, request, onProgress) {
    const progress = released(onProgress);
    try {
      return await loop.api.judgeDataset(taskId, request, progress.callback);
    } finally {
      progress.release();
    }
  },

  registerAdapter: evaluation.api.registerAdapter,
  forgetAdapter: evaluation.api.forgetAdapter,

  async evaluate(taskId, request, onProgress) {
    const progress = released(onProgress);
    try {
      return await evaluation.api.evaluate(taskId, request, progress.callback);
    } finally {
      progress.release();
    }
  },

  async init() {
    return (await getEngine()).report;
  },

  async importModel(taskId, source, onProgress) {
    const progress = released(onProgress);
    try {
      const r = await settle(() => runTask(taskId, (signal) => importModel(source, signal, progress.callback)));
      // Kernel variants for the new model (issue 16): cached or measured, after the load's answer.
      if (r.ok) void tuneActiveModel(trainHost.workspace);
      return r;
    } finally {
      progress.release();
    }
  },

  modelVariants: (taskId, url) => settle(() => runTask(taskId, (signal) => urlVariants(url, signal))),

  async activateModel(taskId, id, onProgress) {
    const progress = released(onProgress);
    try {
      const r = await settle(() => runTask(taskId, (signal) => activateModel(id, signal, progress.callback)));
      if (r.ok) void tuneActiveModel(trainHost.workspace);
      return r;
    } finally {
      progress.release();
    }
  },

  async activeModel() {
    return describeActive();
  },

  unloadModel,

  kernelTuning: kernelTuningReport,
  tuneKernels: () => tuneActiveModel(trainHost.workspace, true),
  forceKernelVariants: (text) => settle(() => forceKernelVariants(text)),

  async generate(taskId, request, onEvent) {
    const events = released(onEvent);
    try {
      return await settle(() => runTask(taskId, (signal) => generateText(request, signal, events.callback)));
    } finally {
      events.release();
    }
  },

  async cancel(taskId) {
    cancelTask(taskId);
  },
};

Comlink.expose(api);
