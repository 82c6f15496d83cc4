// Every import format, in the order detection breaks ties (more specific first).
import type { FormatId, FormatSpec } from '../mapping.js';
import { argilla, labelStudio } from './annotation.js';
import { hhRlhf, openaiPreference, ultrafeedback } from './community.js';
import { llamafactoryAlpaca, llamafactoryKto, llamafactorySharegpt } from './llamafactory.js';
import { prefstudio } from './prefstudio.js';
import { trlLanguageModeling, trlPromptOnly } from './prompts.js';
import { trlImplicitPreference, trlPreference, trlPromptCompletion, trlStepwise, trlUnpaired } from './trl.js';

export const FORMATS: FormatSpec[] = [
  prefstudio,
  openaiPreference,
  labelStudio,
  hhRlhf,
  ultrafeedback,
  argilla,
  llamafactorySharegpt,
  llamafactoryKto,
  llamafactoryAlpaca,
  trlStepwise,
  trlPreference,
  trlUnpaired,
  trlImplicitPreference,
  trlPromptCompletion,
  trlPromptOnly,
  trlLanguageModeling,
];

export function formatSpec(id: FormatId): FormatSpec {
  const f = FORMATS.find((x) => x.id === id);
  if (!f) throw new Error(`unknown import format "${id}"`);
  return f;
}
