// The Label page's keyboard map: one table, read by the key handler and by the shortcuts panel.
import type { TaskMode } from '../../services/label-tasks.js';

export type Command =
  | 'left'
  | 'right'
  | 'tie'
  | 'bothBad'
  | 'skip'
  | 'next'
  | 'undo'
  | 'editLeft'
  | 'editRight'
  | 'thumbUp'
  | 'thumbDown'
  | 'submitRank'
  | 'allStepsRight'
  | 'saveStep'
  | 'generateStep'
  | 'help';

export interface Shortcut {
  keys: string[];
  command: Command;
  label: string;
  modes: TaskMode[] | 'all';
}

export const SHORTCUTS: Shortcut[] = [
  { keys: ['ArrowLeft', 'a'], command: 'left', label: 'Left is better', modes: ['pair'] },
  { keys: ['ArrowRight', 'd'], command: 'right', label: 'Right is better', modes: ['pair'] },
  { keys: ['t'], command: 'tie', label: 'Tie (equally good)', modes: ['pair'] },
  { keys: ['b'], command: 'bothBad', label: 'Both bad', modes: ['pair'] },
  { keys: ['ArrowUp', '+'], command: 'thumbUp', label: 'Thumbs up', modes: ['single'] },
  { keys: ['ArrowDown', '-'], command: 'thumbDown', label: 'Thumbs down', modes: ['single'] },
  { keys: ['Enter'], command: 'submitRank', label: 'Save the ranking as arranged', modes: ['rank'] },
  { keys: ['0'], command: 'allStepsRight', label: 'Every step is right (1–9: first wrong step)', modes: ['steps'] },
  { keys: ['g'], command: 'generateStep', label: 'Generate a correct version of the marked step', modes: ['steps'] },
  { keys: ['Enter'], command: 'saveStep', label: 'Save the marked step (with its correction, if any)', modes: ['steps'] },
  { keys: ['e'], command: 'editLeft', label: 'Edit the left (or only) response', modes: ['pair', 'single'] },
  { keys: ['r'], command: 'editRight', label: 'Edit the right response', modes: ['pair'] },
  { keys: ['s'], command: 'skip', label: 'Skip (comes back at the end)', modes: 'all' },
  { keys: ['n'], command: 'next', label: 'Next without saving', modes: 'all' },
  { keys: ['u', 'Ctrl+z'], command: 'undo', label: 'Undo the last label', modes: 'all' },
  { keys: ['?'], command: 'help', label: 'Show or hide these shortcuts', modes: 'all' },
];

/** The key as the table writes it ("Ctrl+z", "ArrowLeft", "t"). */
export function keyName(e: { key: string; ctrlKey: boolean; metaKey: boolean; altKey: boolean }): string {
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  return e.ctrlKey || e.metaKey ? `Ctrl+${key}` : key;
}

export function commandFor(name: string, mode: TaskMode | null): Command | null {
  for (const s of SHORTCUTS) {
    if (!s.keys.includes(name)) continue;
    if (s.modes === 'all' || (mode && s.modes.includes(mode))) return s.command;
  }
  return null;
}

export function keyLabel(key: string): string {
  return { ArrowLeft: '←', ArrowRight: '→', ArrowUp: '↑', ArrowDown: '↓' }[key] ?? key;
}
