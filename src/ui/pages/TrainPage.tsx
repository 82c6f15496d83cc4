// Train: training runs. Placeholder until its issue lands.
import { TrainIcon } from '../components/Icons.js';
import { PageShell, Placeholder } from '../components/PageShell.js';

export function TrainPage() {
  return (
    <PageShell
      page="train"
      lead="Tune the model with DPO, IPO, KTO and their relatives through LoRA, and watch loss, reward margins and accuracy live."
    >
      <Placeholder
        icon={<TrainIcon width={28} height={28} />}
        title="Training runs"
        items={[
          'Pick an objective, LoRA rank and learning rate, with sensible defaults.',
          'Follow loss, reward margins and accuracy as the run goes.',
          'Pause, resume and compare runs.',
        ]}
      />
    </PageShell>
  );
}
