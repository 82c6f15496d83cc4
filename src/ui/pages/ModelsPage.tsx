// Models: the library of stored models, loading new ones, and a playground to try the active one.
import { useEffect } from 'react';
import { useModelsStore } from '../../stores/models.js';
import { GpuSummary } from '../components/GpuSummary.js';
import { PageShell } from '../components/PageShell.js';
import { LoadProgressView } from '../models/LoadProgressView.js';
import { ModelLibrary } from '../models/ModelLibrary.js';
import { ModelSources } from '../models/ModelSources.js';
import { Playground } from '../models/Playground.js';
import { ProblemNotice } from '../models/ProblemNotice.js';
import '../models/models.css';

export function ModelsPage() {
  const init = useModelsStore((s) => s.init);
  const task = useModelsStore((s) => s.task);
  const problem = useModelsStore((s) => s.problem);
  const gpuProblem = useModelsStore((s) => s.gpuProblem);
  const dismissProblem = useModelsStore((s) => s.dismissProblem);

  useEffect(() => {
    void init();
  }, [init]);

  return (
    <PageShell
      page="models"
      lead="Load a small language model (ONNX in the Hugging Face layout) from your disk or a URL, or start from the built-in demo model. Models are kept in this browser."
    >
      <GpuSummary />
      <div className="models-page">
        {problem && <ProblemNotice problem={problem} onDismiss={dismissProblem} />}
        {gpuProblem && (
          <p className="models-hint" data-testid="models-gpu-problem">
            Models need WebGPU to run, so none is loaded: {gpuProblem}
          </p>
        )}
        {task && <LoadProgressView task={task} />}
        <div className="models-columns">
          <ModelLibrary canLoad={gpuProblem === null} />
          <ModelSources disabled={gpuProblem !== null} />
        </div>
        <Playground />
      </div>
    </PageShell>
  );
}
