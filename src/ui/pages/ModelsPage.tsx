// Models: model library. Placeholder until its issue lands.
import { GpuSummary } from '../components/GpuSummary.js';
import { ModelsIcon } from '../components/Icons.js';
import { PageShell, Placeholder } from '../components/PageShell.js';

export function ModelsPage() {
  return (
    <PageShell
      page="models"
      lead="Load a small language model (ONNX in the Hugging Face layout) from your disk or start from the built-in demo model."
    >
      <GpuSummary />
      <Placeholder
        icon={<ModelsIcon width={28} height={28} />}
        title="Model library"
        items={[
          'Open a model folder or ONNX file; nothing is uploaded anywhere.',
          'See its size, layers and context length, and whether it fits your GPU.',
          'Try it with a quick chat before you tune it.',
        ]}
      />
    </PageShell>
  );
}
