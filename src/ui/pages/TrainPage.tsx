// Train: a new run's settings (dataset, method, hyperparameters, memory estimate), the run list
// (pause, resume, stop, continue from an adapter, sample with it), and the selected run's live
// charts. Training itself runs in the engine Worker, so the page stays responsive.
import { useEffect } from 'react';
import { useModelsStore } from '../../stores/models.js';
import { useTrainStore } from '../../stores/train.js';
import { ProblemBanner } from '../components/ProblemBanner.js';
import { PageShell } from '../components/PageShell.js';
import { RunList } from '../train/RunList.js';
import { RunView } from '../train/RunView.js';
import { TrainSettings } from '../train/TrainSettings.js';
import '../train/train.css';

export function TrainPage() {
  const init = useTrainStore((s) => s.init);
  const loaded = useTrainStore((s) => s.loaded);
  const problem = useTrainStore((s) => s.problem);
  const dismiss = useTrainStore((s) => s.dismissProblem);
  const selected = useTrainStore((s) => s.runs.find((r) => r.id === s.selectedRunId) ?? null);
  // Only a model already on the GPU: starting one here while the Models page loads another would race it.
  const modelId = useModelsStore((s) => s.loadedId);
  const manifest = useModelsStore((s) => s.models.find((m) => m.id === s.loadedId));
  const model = modelId ? { id: modelId, name: manifest?.name ?? modelId } : null;

  useEffect(() => {
    if (!loaded) void init();
    else void useTrainStore.getState().refresh();
  }, [init, loaded]);

  return (
    <PageShell page="train" lead="Tune the model with DPO, IPO, KTO and their relatives through LoRA on your GPU, and watch loss, reward margins and accuracy live.">
      <div className="train-page">
        {problem && <ProblemBanner problem={problem} onDismiss={dismiss} testId="train-problem" />}
        <TrainSettings model={model} />
        <section className="card" aria-labelledby="train-runs-title">
          <h2 id="train-runs-title" className="card-title">
            Runs
          </h2>
          <RunList />
        </section>
        {selected && <RunView run={selected} />}
      </div>
    </PageShell>
  );
}
