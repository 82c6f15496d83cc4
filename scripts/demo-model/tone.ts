// The demo dataset's tone score, as build_demo_dataset.py's tone(): hopeful words minus gloomy
// words of tone-lexicon.json. Used to check that a tuned adapter's samples show the preference.
import { readFileSync } from 'node:fs';

interface Lexicon {
  antonyms: [hopeful: string, gloomy: string][];
  positive: string[];
  negative: string[];
}

const lexicon = JSON.parse(readFileSync(new URL('./tone-lexicon.json', import.meta.url), 'utf8')) as Lexicon;
const HOPEFUL = new Set([...lexicon.antonyms.map(([h]) => h), ...lexicon.positive]);
const GLOOMY = new Set([...lexicon.antonyms.map(([, g]) => g), ...lexicon.negative]);

/** Hopeful minus gloomy lexicon words in `text`. */
export function tone(text: string): number {
  const { hopeful, gloomy } = toneWords(text);
  return hopeful - gloomy;
}

/** Hopeful and gloomy lexicon words in `text`. */
export function toneWords(text: string): { hopeful: number; gloomy: number } {
  const words = text.toLowerCase().match(/[a-z']+/g) ?? [];
  return { hopeful: words.filter((w) => HOPEFUL.has(w)).length, gloomy: words.filter((w) => GLOOMY.has(w)).length };
}
