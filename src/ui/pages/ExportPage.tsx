// Export: adapters and merged models. Placeholder until its issue lands.
import { ExportIcon } from '../components/Icons.js';
import { PageShell, Placeholder } from '../components/PageShell.js';

export function ExportPage() {
  return (
    <PageShell
      page="export"
      lead="Download the LoRA adapter (safetensors) or the merged model, with a model card that records how it was made."
    >
      <Placeholder
        icon={<ExportIcon width={28} height={28} />}
        title="Adapters and merged models"
        items={[
          'Save the adapter in the PEFT layout.',
          'Or merge it into the base model and export ONNX.',
          'A model card lists the data, objective and settings.',
        ]}
      />
    </PageShell>
  );
}
