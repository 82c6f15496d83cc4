// The frame every page shares: its step in the workflow, an h1, one line on what it is for.
import type { ReactNode } from 'react';
import type { PageId } from '../../stores/navigation.js';
import { pageInfo, PAGE_ORDER } from '../pages/registry.js';
import './PageShell.css';

interface PageShellProps {
  page: PageId;
  lead: string;
  children?: ReactNode;
}

export function PageShell({ page, lead, children }: PageShellProps) {
  const info = pageInfo(page);
  const step = PAGE_ORDER.indexOf(page) + 1;
  return (
    <section className="page" data-testid={`page-${page}`} aria-labelledby={`page-title-${page}`}>
      <header className="page-header">
        <p className="page-eyebrow">
          Step {step} of {PAGE_ORDER.length}
        </p>
        <h1 id={`page-title-${page}`} className="page-title" tabIndex={-1}>
          {info.title}
        </h1>
        <p className="page-lead">{lead}</p>
      </header>
      {children}
    </section>
  );
}

interface PlaceholderProps {
  icon: ReactNode;
  title: string;
  items: string[];
}

/** Stands where a page's real content will go. */
export function Placeholder({ icon, title, items }: PlaceholderProps) {
  return (
    <div className="placeholder">
      <div className="placeholder-icon">{icon}</div>
      <div>
        <h2 className="placeholder-title">
          {title} <span className="badge badge-neutral">Coming soon</span>
        </h2>
        <ul className="placeholder-list">
          {items.map((item) => (
            <li key={item}>{item}</li>
          ))}
        </ul>
      </div>
    </div>
  );
}
