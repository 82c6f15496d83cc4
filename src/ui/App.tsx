// The app shell: header, the current page, footer. Starts hash sync and the GPU probe once.
import { useEffect, useRef } from 'react';
import { useDataStore } from '../stores/data.js';
import { useGpuStore } from '../stores/gpu.js';
import { useModelsStore } from '../stores/models.js';
import { useNavigationStore } from '../stores/navigation.js';
import { AppHeader } from './components/AppHeader.js';
import { GpuMissingBanner } from './components/GpuMissingBanner.js';
import { ShieldIcon } from './components/Icons.js';
import { pageInfo } from './pages/registry.js';
import './App.css';

export function App() {
  const page = useNavigationStore((s) => s.page);
  const startHashSync = useNavigationStore((s) => s.startHashSync);
  const probeGpu = useGpuStore((s) => s.probe);
  const initModels = useModelsStore((s) => s.init);
  const seedDemoData = useDataStore((s) => s.seedDemo);
  const mainRef = useRef<HTMLElement>(null);
  const firstPage = useRef(true);

  useEffect(() => startHashSync(), [startHashSync]);
  useEffect(() => {
    void probeGpu();
  }, [probeGpu]);
  // Every page works on the active model: load it (the demo on first run) whichever page opens.
  useEffect(() => {
    void initModels();
  }, [initModels]);
  // The demo dataset too, so a first visit has data to label and train on.
  useEffect(() => {
    void seedDemoData();
  }, [seedDemoData]);

  const { title, Component } = pageInfo(page);

  useEffect(() => {
    document.title = `${title} · PrefStudio`;
    // After a navigation (not on load), move focus to the new page's heading for screen readers.
    if (firstPage.current) {
      firstPage.current = false;
      return;
    }
    mainRef.current?.querySelector<HTMLElement>('h1')?.focus();
  }, [title]);

  return (
    <div className="app">
      <a
        className="skip-link"
        href="#main"
        onClick={(event) => {
          // The hash belongs to navigation: move focus instead of following the fragment.
          event.preventDefault();
          mainRef.current?.focus();
        }}
      >
        Skip to content
      </a>
      <AppHeader />
      <main id="main" className="app-main" ref={mainRef} tabIndex={-1}>
        <GpuMissingBanner />
        <Component key={page} />
      </main>
      <footer className="app-footer">
        <ShieldIcon width={16} height={16} />
        <span>Runs entirely in this browser tab. Your models and data never leave this machine.</span>
      </footer>
    </div>
  );
}
