// A page-level problem (a failed request, a refused run) with a way to dismiss it.
export function ProblemBanner({ problem, onDismiss, testId }: { problem: { title: string; message: string }; onDismiss: () => void; testId: string }) {
  return (
    <div className="problem-banner" role="alert" data-testid={testId}>
      <strong>{problem.title}</strong>
      <p>{problem.message}</p>
      <button type="button" className="button button-secondary" onClick={onDismiss}>
        Dismiss
      </button>
    </div>
  );
}
