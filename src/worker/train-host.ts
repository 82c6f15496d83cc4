// What training needs of the engine Worker: its workspace connection, its GPU lock, the model
// slot (models.ts), reloading the run's model when another one is active or the device that held
// it was lost, and the kernel tuning before a run (tuning.ts).
import { PrefDb } from '../db/index.js';
import { getEngine, withGpu } from './engine.js';
import { settle } from './errors.js';
import { activateModel, getActiveModel, unloadModel } from './models.js';
import { manifestFingerprint, type TrainHost, type TrainModel } from './train.js';
import { tuneForTraining } from './tuning.js';

let workspace: Promise<PrefDb> | null = null;

/** The active model for training: model `id`, loaded first if another one (or a lost device's copy) is active. */
async function trainModel(id: string): Promise<TrainModel> {
  const engine = await getEngine();
  let slot = getActiveModel();
  if (slot?.id === id && slot.model.engine !== engine) await unloadModel(id);
  slot = getActiveModel();
  if (slot?.id !== id) {
    let r = await settle(() => activateModel(id, new AbortController().signal));
    // Joined the page's own load of this model and the person cancelled it: load it for the run.
    if (!r.ok && r.error.name === 'AbortError') r = await settle(() => activateModel(id, new AbortController().signal));
    if (!r.ok) throw new Error(`cannot load the run's model: ${r.error.message}`);
    slot = getActiveModel();
  }
  if (!slot) throw new Error('no model is loaded');
  return { id: slot.id, name: slot.manifest.name, model: slot.model, tokenizer: slot.tokenizer, weightBytes: slot.manifest.gpuMemoryBytes, fingerprint: await manifestFingerprint(slot.manifest) };
}

/** The workspace, opened without openWorkspace's clean-up: an import may be staging in the import Worker. */
function trainWorkspace(): Promise<PrefDb> {
  workspace ??= (async () => {
    const db = new PrefDb();
    await db.open();
    return db;
  })();
  return workspace;
}

export function workerTrainHost(): TrainHost {
  return {
    workspace: trainWorkspace,
    withGpu,
    model: trainModel,
    tuneKernels: async (model, config, log) => {
      const db = await trainWorkspace();
      await withGpu((engine) => tuneForTraining(engine, db, model, config, log));
    },
  };
}
