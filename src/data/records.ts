// Preference records: the four kinds PrefStudio trains on, and the two the on-policy loop feeds
// them from (a prompt awaiting generation, candidates awaiting judgement), as zod schemas. Framework-free: runs in
// the page, in a Worker and in Node. Every record is either plain text (strings) or conversational
// (role/content messages); a system prompt lives in `system`, never as the prompt's first message,
// so one conversation has one stored form (round trips compare equal).
import { z } from 'zod';

export const ROLES = ['system', 'user', 'assistant', 'tool'] as const;
export type Role = (typeof ROLES)[number];

export const MessageSchema = z.object({ role: z.enum(ROLES), content: z.string() });
export type Message = z.infer<typeof MessageSchema>;

/** Plain text, or a list of messages. */
export const TurnsSchema = z.union([z.string(), z.array(MessageSchema)]);
export type Turns = z.infer<typeof TurnsSchema>;

export const RECORD_KINDS = ['pair', 'unpaired', 'ranking', 'stepwise', 'prompt', 'candidates'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

/** Kinds that state a preference or a label (what training and preference exports read). */
export const PREFERENCE_KINDS = ['pair', 'unpaired', 'ranking', 'stepwise'] as const;
/** Kinds of the on-policy loop: a prompt to generate from, K candidates awaiting judgement. */
export const LOOP_KINDS = ['prompt', 'candidates'] as const;

export const SPLITS = ['train', 'test'] as const;
export type Split = (typeof SPLITS)[number];

/** Where a record came from: a row of an imported file, a model's generation, or typed by hand. */
export const SourceSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('import'),
    file: z.string(),
    /** 0-based index of the row among the file's data rows. */
    row: z.number().int().nonnegative(),
    /** 1-based line where the row starts (JSONL, CSV, JSON). */
    line: z.number().int().positive().optional(),
    /** Format the row was read as (a FormatId of src/data/import). */
    format: z.string().optional(),
  }),
  z.object({
    type: z.literal('generated'),
    model: z.string().min(1),
    adapter: z.string().optional(),
    /** The loop round that generated it (1 is the first). */
    round: z.number().int().positive().optional(),
    /** Index of the prompt in the prompt set it was generated from. */
    promptIndex: z.number().int().nonnegative().optional(),
    sampling: z
      .object({
        temperature: z.number().optional(),
        topP: z.number().optional(),
        topK: z.number().int().optional(),
        minP: z.number().optional(),
        repetitionPenalty: z.number().optional(),
        maxTokens: z.number().int().optional(),
        stopStrings: z.array(z.string()).optional(),
        seed: z.number().int().optional(),
        /** Candidates per prompt (K). */
        n: z.number().int().optional(),
      })
      .optional(),
  }),
  z.object({ type: z.literal('manual') }),
]);
export type RecordSource = z.infer<typeof SourceSchema>;

export const JUDGE_KINDS = ['person', 'model', 'rule', 'reward'] as const;
export type JudgeKind = (typeof JUDGE_KINDS)[number];

/**
 * What a judge said of a candidate set: one score per response (null: no score, e.g. an answer
 * that could not be read), with what it saw and answered (a model judge's prompts and raw
 * answers), so every label made from it can be audited.
 */
export const JudgementSchema = z.object({
  judge: z.enum(JUDGE_KINDS),
  /** Which judge: a rule's name, a judge model's name, an adapter. */
  name: z.string(),
  scores: z.array(z.number().nullable()),
  /** A person said every response is bad (no preference is made). */
  bothBad: z.boolean().optional(),
  /** The judge's prompts and raw answers (model judge), in the order asked. */
  calls: z.array(z.object({ prompt: z.string(), answer: z.string(), note: z.string().optional() })).optional(),
  /** ms since epoch. */
  at: z.number(),
});
export type Judgement = z.infer<typeof JudgementSchema>;

const provenance = {
  system: z.string().optional(),
  source: SourceSchema,
  /** Who chose or labelled (a name or id); absent for imported data without it. */
  annotator: z.string().optional(),
  /** ms since epoch when the label was given, when known. */
  annotatedAt: z.number().optional(),
  /** ms since epoch when the record was created here (imported, generated, typed). */
  createdAt: z.number(),
  split: z.enum(SPLITS),
  tags: z.array(z.string()),
  rationale: z.string().optional(),
  /** The judgement this record was made from, or (candidates) was given. */
  judgement: JudgementSchema.optional(),
};

export const PairSchema = z.object({
  kind: z.literal('pair'),
  prompt: TurnsSchema,
  chosen: TurnsSchema,
  rejected: TurnsSchema,
  /** Neither is better: kept for the record, left out of DPO exports. */
  tie: z.boolean().optional(),
  /** Both are bad: a KTO export labels both undesirable. */
  bothBad: z.boolean().optional(),
  scores: z.object({ chosen: z.number().optional(), rejected: z.number().optional() }).optional(),
  ...provenance,
});

export const UnpairedSchema = z.object({
  kind: z.literal('unpaired'),
  prompt: TurnsSchema,
  completion: TurnsSchema,
  /** true: desirable (KTO). */
  label: z.boolean(),
  ...provenance,
});

export const RankingSchema = z.object({
  kind: z.literal('ranking'),
  prompt: TurnsSchema,
  responses: z.array(TurnsSchema),
  /** ranks[i] is the rank of responses[i]: 1 is best, equal ranks are ties. */
  ranks: z.array(z.number().int().positive()),
  ...provenance,
});

/** One step of step-level data that the source labelled after the rejected step (TRL stepwise). */
export const LaterStepSchema = z.object({ step: z.string(), good: z.boolean() });

export const StepwiseSchema = z.object({
  kind: z.literal('stepwise'),
  prompt: TurnsSchema,
  /** The steps accepted so far. */
  steps: z.array(z.string()),
  chosenStep: z.string().nullable(),
  rejectedStep: z.string().nullable(),
  /** Steps after the rejected one with their labels, kept so a TRL stepwise export is lossless. */
  laterSteps: z.array(LaterStepSchema).optional(),
  ...provenance,
});

/** A prompt awaiting generation (a prompt set's row: TRL prompt-only, language-modelling, a list). */
export const PromptSchema = z.object({
  kind: z.literal('prompt'),
  prompt: TurnsSchema,
  ...provenance,
});

/** K responses to one prompt awaiting judgement (generated, with their provenance in `source`). */
export const CandidatesSchema = z.object({
  kind: z.literal('candidates'),
  prompt: TurnsSchema,
  responses: z.array(TurnsSchema),
  ...provenance,
});

export type PairRecord = z.infer<typeof PairSchema>;
export type UnpairedRecord = z.infer<typeof UnpairedSchema>;
export type RankingRecord = z.infer<typeof RankingSchema>;
export type StepwiseRecord = z.infer<typeof StepwiseSchema>;
export type PromptRecord = z.infer<typeof PromptSchema>;
export type CandidatesRecord = z.infer<typeof CandidatesSchema>;
export type PrefRecord = PairRecord | UnpairedRecord | RankingRecord | StepwiseRecord | PromptRecord | CandidatesRecord;

export function isConversational(t: Turns): t is Message[] {
  return Array.isArray(t);
}

/** The turn fields of a record that carry a response (everything but the prompt). */
function responses(r: PrefRecord): Turns[] {
  switch (r.kind) {
    case 'pair':
      return [r.chosen, r.rejected];
    case 'unpaired':
      return [r.completion];
    case 'ranking':
    case 'candidates':
      return r.responses;
    case 'stepwise':
    case 'prompt':
      return [];
  }
}

function responseFields(r: PrefRecord): string[] {
  switch (r.kind) {
    case 'pair':
      return ['chosen', 'rejected'];
    case 'unpaired':
      return ['completion'];
    case 'ranking':
    case 'candidates':
      return r.responses.map((_, i) => `responses.${i}`);
    case 'stepwise':
    case 'prompt':
      return [];
  }
}

/** Rules that span fields, shared by every kind. Adds issues to ctx with the field as path. */
function checkRecord(r: PrefRecord, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  const style = isConversational(r.prompt);
  if (isConversational(r.prompt) && r.prompt[0]?.role === 'system') {
    issue(['prompt', 0, 'role'], 'a system prompt belongs in `system`, not as the first message');
  }
  const fields = responseFields(r);
  responses(r).forEach((t, i) => {
    const field = fields[i] ?? `responses.${i}`;
    if (isConversational(t) !== style) {
      issue([field], `is ${isConversational(t) ? 'conversational' : 'plain text'} but the prompt is ${style ? 'conversational' : 'plain text'}`);
    } else if (t.length === 0) {
      issue([field], isConversational(t) ? 'has no messages' : 'is empty');
    }
  });
  if (r.kind === 'pair' && r.tie && r.bothBad) issue(['tie'], 'a pair cannot be both a tie and both bad');
  if (r.kind === 'ranking') {
    if (r.responses.length < 2) issue(['responses'], `needs at least 2 responses, got ${r.responses.length}`);
    if (r.ranks.length !== r.responses.length) {
      issue(['ranks'], `has ${r.ranks.length} ranks for ${r.responses.length} responses`);
    }
  }
  if (r.kind === 'stepwise' && r.chosenStep === null && r.rejectedStep === null) {
    issue(['chosenStep'], 'a stepwise record needs a chosen or a rejected step');
  }
  if (r.kind === 'prompt' && r.prompt.length === 0) issue(['prompt'], isConversational(r.prompt) ? 'has no messages' : 'is empty');
  if (r.kind === 'candidates' && r.responses.length < 2) issue(['responses'], `needs at least 2 candidates to judge, got ${r.responses.length}`);
  if (r.judgement && (r.kind === 'candidates' || r.kind === 'ranking') && r.judgement.scores.length !== r.responses.length) {
    issue(['judgement', 'scores'], `has ${r.judgement.scores.length} scores for ${r.responses.length} responses`);
  }
}

export const PrefRecordSchema = z
  .discriminatedUnion('kind', [PairSchema, UnpairedSchema, RankingSchema, StepwiseSchema, PromptSchema, CandidatesSchema])
  .superRefine((r, ctx) => checkRecord(r as PrefRecord, ctx));

/** The content of a record without its provenance: what round trips through other formats keep. */
export function recordContent(r: PrefRecord): Record<string, unknown> {
  const { source: _s, annotator: _a, annotatedAt: _t, createdAt: _c, split: _p, tags: _g, rationale: _r, judgement: _j, ...content } = r;
  return content;
}

export interface RecordDefaults {
  split?: Split;
  tags?: string[];
  annotator?: string;
  createdAt?: number;
}
