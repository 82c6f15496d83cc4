// A failure the user can read and act on; dismissing it leaves the page as it was.
import type { ModelProblem } from '../../stores/models.js';

const HINTS: Record<string, string> = {
  'no-model-file': 'Choose the folder that holds the .onnx file and config.json.',
  'external-data-missing': 'Add the external data file named above to the folder and load it again.',
  'external-data-truncated': 'The weights file is incomplete: download it again.',
  'onnx-truncated': 'The .onnx file is incomplete: download it again.',
  quantized: 'Use the fp32 or fp16 export of this model.',
  'model-too-large': 'Pick a smaller model, or an fp16 export.',
  network: 'Check the address, and that the server allows cross-origin requests.',
  'gpu-unavailable': 'Models run on WebGPU: see the GPU panel for how to enable it.',
  'storage-full': 'Delete models you no longer need, then try again.',
};

export function ProblemNotice({ problem, onDismiss }: { problem: ModelProblem; onDismiss(): void }) {
  const hint = HINTS[problem.failure.code];
  return (
    <div className="models-problem" role="alert" data-testid="models-problem" data-code={problem.failure.code}>
      <div>
        <p className="models-problem-title">{problem.title}</p>
        <p className="models-problem-message">{problem.failure.message}</p>
        {hint && <p className="models-problem-hint">{hint}</p>}
      </div>
      <button type="button" className="button button-secondary" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  );
}
