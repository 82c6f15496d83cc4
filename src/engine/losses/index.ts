// Preference objectives: method definitions (TRL names and defaults), TRL's metrics, and the
// GPU step. Kernels: kernels/{preference,kto,listwise}-loss.ts; CPU twins: cpu/*-loss.ts.
export * from './methods.js';
export * from './metrics.js';
export * from './step.js';
export { PAIR_NSTATS, PAIR_STATS } from '../cpu/preference-loss.js';
export { KTO_NSTATS, KTO_STATS } from '../cpu/kto-loss.js';
export { LISTWISE_NSTATS, LISTWISE_STATS } from '../cpu/listwise-loss.js';
