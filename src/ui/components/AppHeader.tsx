// Product name, the page navigation and the GPU chip.
import { GpuChip } from './GpuChip.js';
import { LogoMark } from './Icons.js';
import { MainNav } from './MainNav.js';
import './AppHeader.css';

export function AppHeader() {
  return (
    <header className="app-header" data-testid="app-header">
      <div className="app-header-inner">
        <a className="brand" href="#/models" aria-label="PrefStudio, go to Models">
          <LogoMark />
          <span className="brand-name">PrefStudio</span>
        </a>
        <MainNav />
        <GpuChip />
      </div>
    </header>
  );
}
