// The records the loop stores: a prompt's generated candidate set, with its provenance (model,
// adapter, round, prompt index, sampling settings), as `prefstudio generate` writes it and the
// engine Worker's generation jobs store it.
import type { CandidatesRecord, PrefRecord } from '../../data/records.js';
import type { CandidateSet } from './candidates.js';
import type { GenerationSettings } from './config.js';

/** A generated set as the record it is stored as. */
export function candidateRecordOf(set: CandidateSet, split: PrefRecord['split'], provenance: { model: string; adapter?: string; round?: number; settings: GenerationSettings }, now = Date.now()): CandidatesRecord {
  const s = provenance.settings;
  return {
    kind: 'candidates',
    prompt: set.prompt,
    ...(set.system !== undefined ? { system: set.system } : {}),
    responses: set.responses,
    source: {
      type: 'generated',
      model: provenance.model,
      ...(provenance.adapter !== undefined ? { adapter: provenance.adapter } : {}),
      ...(provenance.round !== undefined ? { round: provenance.round } : {}),
      promptIndex: set.index,
      sampling: {
        temperature: s.temperature, topP: s.topP, topK: s.topK, minP: s.minP, repetitionPenalty: s.repetitionPenalty,
        maxTokens: s.maxNewTokens, ...(s.stopStrings.length ? { stopStrings: s.stopStrings } : {}), seed: s.seed, n: s.n,
      },
    },
    createdAt: now,
    split,
    tags: ['generated'],
  };
}

