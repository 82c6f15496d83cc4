// Label: side-by-side labelling. Placeholder until its issue lands.
import { LabelIcon } from '../components/Icons.js';
import { PageShell, Placeholder } from '../components/PageShell.js';

export function LabelPage() {
  return (
    <PageShell
      page="label"
      lead="Compare two completions side by side and pick the better one to grow your own preference dataset."
    >
      <Placeholder
        icon={<LabelIcon width={28} height={28} />}
        title="Side-by-side labelling"
        items={[
          'Sample two answers to a prompt from the current model.',
          'Choose the better one with a click or a keyboard shortcut.',
          'Each choice becomes a preference pair in your dataset.',
        ]}
      />
    </PageShell>
  );
}
