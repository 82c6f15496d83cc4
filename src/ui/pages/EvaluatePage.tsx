// Evaluate: before and after. Placeholder until its issue lands.
import { EvaluateIcon } from '../components/Icons.js';
import { PageShell, Placeholder } from '../components/PageShell.js';

export function EvaluatePage() {
  return (
    <PageShell
      page="evaluate"
      lead="Compare the base and tuned models on held-out prompts: win rates, reward margins and samples side by side."
    >
      <Placeholder
        icon={<EvaluateIcon width={28} height={28} />}
        title="Before and after"
        items={[
          'Score held-out pairs with the base and the tuned model.',
          'Read generations from both side by side.',
          'Spot regressions before you export.',
        ]}
      />
    </PageShell>
  );
}
