// Export: a PEFT adapter (picked, or from a run) as a PEFT zip, merged into the ONNX model,
// as a llama.cpp GGUF LoRA adapter, or handed off to TRL.
import { useEffect } from 'react';
import { useExportStore } from '../../stores/export.js';
import { PageShell } from '../components/PageShell.js';
import { ExportPanel } from '../export/ExportPanel.js';

export function ExportPage() {
  const refresh = useExportStore((s) => s.refresh);
  // Runs trained and models loaded since the last visit show up in the pickers.
  useEffect(() => void refresh(), [refresh]);
  return (
    <PageShell page="export" lead="Take a tuned adapter anywhere: PEFT, a merged ONNX model, llama.cpp, or TRL on a cluster.">
      <ExportPanel />
    </PageShell>
  );
}
