// Preference records: the four kinds PrefStudio trains on, as zod schemas. Framework-free: runs in
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

export const RECORD_KINDS = ['pair', 'unpaired', 'ranking', 'stepwise'] as const;
export type RecordKind = (typeof RECORD_KINDS)[number];

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
    sampling: z
      .object({
        temperature: z.number().optional(),
        topP: z.number().optional(),
        topK: z.number().int().optional(),
        maxTokens: z.number().int().optional(),
        seed: z.number().int().optional(),
      })
      .optional(),
  }),
  z.object({ type: z.literal('manual') }),
]);
export type RecordSource = z.infer<typeof SourceSchema>;

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

export type PairRecord = z.infer<typeof PairSchema>;
export type UnpairedRecord = z.infer<typeof UnpairedSchema>;
export type RankingRecord = z.infer<typeof RankingSchema>;
export type StepwiseRecord = z.infer<typeof StepwiseSchema>;
export type PrefRecord = PairRecord | UnpairedRecord | RankingRecord | StepwiseRecord;

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
      return r.responses;
    case 'stepwise':
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
      return r.responses.map((_, i) => `responses.${i}`);
    case 'stepwise':
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
}

export const PrefRecordSchema = z
  .discriminatedUnion('kind', [PairSchema, UnpairedSchema, RankingSchema, StepwiseSchema])
  .superRefine((r, ctx) => checkRecord(r as PrefRecord, ctx));

/** The content of a record without its provenance: what round trips through other formats keep. */
export function recordContent(r: PrefRecord): Record<string, unknown> {
  const { source: _s, annotator: _a, annotatedAt: _t, createdAt: _c, split: _p, tags: _g, rationale: _r, ...content } = r;
  return content;
}

export interface RecordDefaults {
  split?: Split;
  tags?: string[];
  annotator?: string;
  createdAt?: number;
}
