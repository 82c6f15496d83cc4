// Entry point of the studio page.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
// The shared styles first, so that each page's own stylesheet (imported by App's pages) comes
// after them in the cascade and can refine them.
import './ui/styles/tokens.css';
import './ui/styles/base.css';
import { App } from './ui/App.js';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
